# The standard workload in POSIX shell: print fib($1). Runs under busybox sh or dash.
n=$1; a=0; b=1; i=0
while [ "$i" -lt "$n" ]; do t=$((a + b)); a=$b; b=$t; i=$((i + 1)); done
echo "$a"
