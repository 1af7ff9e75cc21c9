#!/usr/bin/env bash
# Runs the JMH microbenchmarks that live beside the tests (src/test/java/**/*Benchmark.java).
# Usage: bench/jmh.sh [JMH args...]   e.g. bench/jmh.sh EventClassifierBenchmark -prof gc
# Builds the test classes (JMH's annotation processor generates the harness), then runs
# org.openjdk.jmh.Main on the test classpath. Results in docs/benchmarks.md.
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
. "$here/bin/find-jdk"
JAVA_HOME=$(tokenpipe_find_jdk) || exit 1
export JAVA_HOME
cd "$here"
build=${TOKENPIPE_BUILD_DIR:-$here/target}
cpfile=$build/jmh-classpath.txt
./mvnw -B -q ${MVN_OFFLINE:+-o} -Dtokenpipe.build.dir="$build" test-compile \
  dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$cpfile"
exec "$JAVA_HOME/bin/java" -cp "$build/test-classes:$build/classes:$(cat "$cpfile")" org.openjdk.jmh.Main "$@"
