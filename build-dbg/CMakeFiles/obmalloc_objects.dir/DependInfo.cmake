
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/src/alloc.c" "CMakeFiles/obmalloc_objects.dir/src/alloc.c.o" "gcc" "CMakeFiles/obmalloc_objects.dir/src/alloc.c.o.d"
  "/work/main/src/arena.c" "CMakeFiles/obmalloc_objects.dir/src/arena.c.o" "gcc" "CMakeFiles/obmalloc_objects.dir/src/arena.c.o.d"
  "/work/main/src/arena_map.c" "CMakeFiles/obmalloc_objects.dir/src/arena_map.c.o" "gcc" "CMakeFiles/obmalloc_objects.dir/src/arena_map.c.o.d"
  "/work/main/src/free.c" "CMakeFiles/obmalloc_objects.dir/src/free.c.o" "gcc" "CMakeFiles/obmalloc_objects.dir/src/free.c.o.d"
  "/work/main/src/heap.c" "CMakeFiles/obmalloc_objects.dir/src/heap.c.o" "gcc" "CMakeFiles/obmalloc_objects.dir/src/heap.c.o.d"
  "/work/main/src/huge.c" "CMakeFiles/obmalloc_objects.dir/src/huge.c.o" "gcc" "CMakeFiles/obmalloc_objects.dir/src/huge.c.o.d"
  "/work/main/src/init.c" "CMakeFiles/obmalloc_objects.dir/src/init.c.o" "gcc" "CMakeFiles/obmalloc_objects.dir/src/init.c.o.d"
  "/work/main/src/options.c" "CMakeFiles/obmalloc_objects.dir/src/options.c.o" "gcc" "CMakeFiles/obmalloc_objects.dir/src/options.c.o.d"
  "/work/main/src/os.c" "CMakeFiles/obmalloc_objects.dir/src/os.c.o" "gcc" "CMakeFiles/obmalloc_objects.dir/src/os.c.o.d"
  "/work/main/src/pool.c" "CMakeFiles/obmalloc_objects.dir/src/pool.c.o" "gcc" "CMakeFiles/obmalloc_objects.dir/src/pool.c.o.d"
  "/work/main/src/size_class.c" "CMakeFiles/obmalloc_objects.dir/src/size_class.c.o" "gcc" "CMakeFiles/obmalloc_objects.dir/src/size_class.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
