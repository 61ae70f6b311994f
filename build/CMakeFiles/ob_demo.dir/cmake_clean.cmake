file(REMOVE_RECURSE
  "CMakeFiles/ob_demo.dir/examples/demo.c.o"
  "CMakeFiles/ob_demo.dir/examples/demo.c.o.d"
  "ob_demo"
  "ob_demo.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/ob_demo.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
