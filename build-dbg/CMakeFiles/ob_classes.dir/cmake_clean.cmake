file(REMOVE_RECURSE
  "CMakeFiles/ob_classes.dir/tools/classes.c.o"
  "CMakeFiles/ob_classes.dir/tools/classes.c.o.d"
  "ob_classes"
  "ob_classes.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/ob_classes.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
