file(REMOVE_RECURSE
  "libobmalloc.a"
  "libobmalloc.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/obmalloc_static.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
