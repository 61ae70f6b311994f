# CMake generated Testfile for 
# Source directory: /work/main/tests
# Build directory: /work/main/build/tests
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test(test_size_class "/work/main/build/tests/test_size_class")
set_tests_properties(test_size_class PROPERTIES  TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;38;add_test;/work/main/tests/CMakeLists.txt;68;ob_test;/work/main/tests/CMakeLists.txt;0;")
add_test(test_size_class_asan "/work/main/build/tests/test_size_class_asan")
set_tests_properties(test_size_class_asan PROPERTIES  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1;OB_TEST_SCALE=0.5" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;46;add_test;/work/main/tests/CMakeLists.txt;68;ob_test;/work/main/tests/CMakeLists.txt;0;")
add_test(test_size_class_valgrind "/usr/bin/valgrind" "--error-exitcode=99" "--quiet" "--trace-children=no" "--leak-check=no" "/work/main/build/tests/test_size_class")
set_tests_properties(test_size_class_valgrind PROPERTIES  ENVIRONMENT "OB_TEST_SCALE=0.05" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;60;add_test;/work/main/tests/CMakeLists.txt;68;ob_test;/work/main/tests/CMakeLists.txt;0;")
add_test(test_api "/work/main/build/tests/test_api")
set_tests_properties(test_api PROPERTIES  TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;38;add_test;/work/main/tests/CMakeLists.txt;69;ob_test;/work/main/tests/CMakeLists.txt;0;")
add_test(test_api_asan "/work/main/build/tests/test_api_asan")
set_tests_properties(test_api_asan PROPERTIES  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1;OB_TEST_SCALE=0.5" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;46;add_test;/work/main/tests/CMakeLists.txt;69;ob_test;/work/main/tests/CMakeLists.txt;0;")
add_test(test_api_valgrind "/usr/bin/valgrind" "--error-exitcode=99" "--quiet" "--trace-children=no" "--leak-check=no" "/work/main/build/tests/test_api")
set_tests_properties(test_api_valgrind PROPERTIES  ENVIRONMENT "OB_TEST_SCALE=0.05" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;60;add_test;/work/main/tests/CMakeLists.txt;69;ob_test;/work/main/tests/CMakeLists.txt;0;")
add_test(test_death "/work/main/build/tests/test_death")
set_tests_properties(test_death PROPERTIES  TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;38;add_test;/work/main/tests/CMakeLists.txt;70;ob_test;/work/main/tests/CMakeLists.txt;0;")
add_test(test_death_asan "/work/main/build/tests/test_death_asan")
set_tests_properties(test_death_asan PROPERTIES  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1;OB_TEST_SCALE=0.5" TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/tests/CMakeLists.txt;46;add_test;/work/main/tests/CMakeLists.txt;70;ob_test;/work/main/tests/CMakeLists.txt;0;")
