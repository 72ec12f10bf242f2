#!/usr/bin/env bash
# Note [no device-only calls from host code]
# nvcc does not always diagnose a host function (e.g. a kernel launcher template) that calls a
# __device__-only function: in the host compilation pass the callee's body becomes a stub that
# calls exit(), so the program silently exits with status 1 when the launcher runs (seen on the
# H100: kern::fill called the __device__ scalar_as()). This check fails when any CUDA object of
# the library references exit(). Usage: check_cuda_host_stubs.sh <dir with *.cu.o files>
set -euo pipefail
dir="${1:?usage: $0 <build dir>}"
objs=$(find "$dir" -name '*.cu.o' | sort)
[ -n "$objs" ] || { echo "check_cuda_host_stubs: no *.cu.o under $dir"; exit 1; }
bad=0
for o in $objs; do
  n=$(objdump -dr "$o" | grep -c 'R_X86_64_PLT32[[:space:]]*exit-' || true)
  if [ "$n" != 0 ]; then
    echo "FAIL: $o calls exit() $n time(s): host code calls a __device__-only function (make it __host__ __device__)"
    objdump -dr -C "$o" | awk '/^[0-9a-f]+ <.*>:$/ {fn=$0} /R_X86_64_PLT32[[:space:]]*exit-/ {print "   in " fn}' | sort -u | cut -c1-200
    bad=1
  fi
done
[ $bad = 0 ] && echo "check_cuda_host_stubs: $(echo "$objs" | wc -l) CUDA objects, none calls exit()"
exit $bad
