file(REMOVE_RECURSE
  "CMakeFiles/obmalloc_objects.dir/src/alloc.c.o"
  "CMakeFiles/obmalloc_objects.dir/src/alloc.c.o.d"
  "CMakeFiles/obmalloc_objects.dir/src/arena.c.o"
  "CMakeFiles/obmalloc_objects.dir/src/arena.c.o.d"
  "CMakeFiles/obmalloc_objects.dir/src/arena_map.c.o"
  "CMakeFiles/obmalloc_objects.dir/src/arena_map.c.o.d"
  "CMakeFiles/obmalloc_objects.dir/src/free.c.o"
  "CMakeFiles/obmalloc_objects.dir/src/free.c.o.d"
  "CMakeFiles/obmalloc_objects.dir/src/heap.c.o"
  "CMakeFiles/obmalloc_objects.dir/src/heap.c.o.d"
  "CMakeFiles/obmalloc_objects.dir/src/huge.c.o"
  "CMakeFiles/obmalloc_objects.dir/src/huge.c.o.d"
  "CMakeFiles/obmalloc_objects.dir/src/init.c.o"
  "CMakeFiles/obmalloc_objects.dir/src/init.c.o.d"
  "CMakeFiles/obmalloc_objects.dir/src/options.c.o"
  "CMakeFiles/obmalloc_objects.dir/src/options.c.o.d"
  "CMakeFiles/obmalloc_objects.dir/src/os.c.o"
  "CMakeFiles/obmalloc_objects.dir/src/os.c.o.d"
  "CMakeFiles/obmalloc_objects.dir/src/pool.c.o"
  "CMakeFiles/obmalloc_objects.dir/src/pool.c.o.d"
  "CMakeFiles/obmalloc_objects.dir/src/size_class.c.o"
  "CMakeFiles/obmalloc_objects.dir/src/size_class.c.o.d"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/obmalloc_objects.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
