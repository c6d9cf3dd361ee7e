# bench_dirty: cost of dirty-page tracking per backend (see bench/dirty.c).
# Included from bench/CMakeLists.txt.
add_executable(bench_dirty ${CMAKE_CURRENT_LIST_DIR}/dirty.c)
target_link_libraries(bench_dirty PRIVATE cogc_dirty)
