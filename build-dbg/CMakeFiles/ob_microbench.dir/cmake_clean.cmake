file(REMOVE_RECURSE
  "CMakeFiles/ob_microbench.dir/bench/microbench.c.o"
  "CMakeFiles/ob_microbench.dir/bench/microbench.c.o.d"
  "ob_microbench"
  "ob_microbench.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/ob_microbench.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
