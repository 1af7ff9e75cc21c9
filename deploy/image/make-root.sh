#!/usr/bin/env bash
# Builds the container's root filesystem for Jib (which layers it on `scratch`): a jlinked Java
# runtime with only the modules tokenpipe uses, the glibc pieces that runtime links against, a
# non-root user, and /tmp (Netty unpacks its native transport there). No base image is pulled, so
# the image builds offline from Maven Central alone.
# Usage: make-root.sh JAVA_HOME OUTPUT_DIR
set -euo pipefail
jdk=$1
root=$2
modules=java.base,java.desktop,java.logging,java.management,java.naming,java.net.http,java.sql,java.xml,jdk.crypto.ec,jdk.jfr,jdk.management,jdk.unsupported

rm -rf "$root"
mkdir -p "$root/opt" "$root/etc" "$root/tmp"
"$jdk/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages --compress=zip-6 \
  --output "$root/opt/java"

# java.desktop is in for java.beans only: drop its AWT, font and sound natives (and their X11 needs).
rm -f "$root"/opt/java/lib/lib{awt,awt_xawt,fontmanager,freetype,jawt,javajpeg,jsound,lcms,mlib_image,splashscreen}.so

# Shared libraries of the runtime, from this machine's glibc (same ABI the JDK was built for).
find "$root/opt/java" -name '*.so' -o -path '*/bin/java' | while read -r f; do
  ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\/(usr\/)?lib\/x86_64-linux-gnu\// {print $3}'
done | sort -u | while read -r lib; do
  real=$(readlink -f "$lib")
  mkdir -p "$root$(dirname "$lib")"
  cp "$real" "$root$lib"
done
mkdir -p "$root/lib64"
cp "$(readlink -f /lib64/ld-linux-x86-64.so.2)" "$root/lib64/ld-linux-x86-64.so.2"

# The unprivileged user the image runs as (65532, as distroless "nonroot").
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"
chmod 1777 "$root/tmp"
