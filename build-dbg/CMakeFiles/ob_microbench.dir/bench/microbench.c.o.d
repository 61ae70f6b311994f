CMakeFiles/ob_microbench.dir/bench/microbench.c.o: \
 /work/main/bench/microbench.c /usr/include/stdc-predef.h
