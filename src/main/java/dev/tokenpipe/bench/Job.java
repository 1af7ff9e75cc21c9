package dev.tokenpipe.bench;

/**
 * One request to make.
 *
 * @param index          0-based issue order, warm-up included
 * @param intendedNanos  {@code System.nanoTime()} at which the request should start: the arrival time in open
 *                       loop, the moment it was taken in closed loop
 * @param measured       false for warm-up requests
 */
record Job(long index, long intendedNanos, boolean measured) {}
