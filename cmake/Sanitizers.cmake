# Sanitizer builds. HERALD_SANITIZE is a comma list handed to -fsanitize= for every target
# of the tree (and its link): "address,undefined" (preset debug-asan) or "thread" (preset
# tsan). g++ 12 supports all three, so those presets use the same compiler as release;
# clang-14 is only needed for libFuzzer (HERALD_BUILD_FUZZERS, preset fuzz).
set(HERALD_SANITIZE "" CACHE STRING
    "Sanitizers for every target, as for -fsanitize= (e.g. address,undefined or thread); empty: none")
option(HERALD_BUILD_FUZZERS "Build the libFuzzer targets in fuzz/ (needs clang)" OFF)

if(HERALD_SANITIZE MATCHES "thread" AND HERALD_SANITIZE MATCHES "address")
  message(FATAL_ERROR "HERALD_SANITIZE: ThreadSanitizer cannot be combined with AddressSanitizer")
endif()

if(HERALD_SANITIZE)
  # Frame pointers: readable stacks in every report at a small cost.
  add_compile_options(-fsanitize=${HERALD_SANITIZE} -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${HERALD_SANITIZE})
  if(HERALD_SANITIZE MATCHES "undefined")
    # Undefined behaviour stops the process, so a finding fails the test that caused it
    # (by default UBSan prints and carries on, and the run would pass).
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
  # The sanitizers bring their own allocator: tcmalloc would replace it
  # (src/server/CMakeLists.txt links it into the server by default).
  set(HERALD_TCMALLOC OFF CACHE BOOL "Link the server with tcmalloc_minimal when it is installed" FORCE)
endif()

if(HERALD_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "HERALD_BUILD_FUZZERS needs clang (libFuzzer): use the fuzz preset "
                        "(cmake --preset fuzz), which picks clang++-14")
  endif()
  # Coverage instrumentation for libFuzzer in every library the fuzzers link; the fuzz
  # targets themselves add -fsanitize=fuzzer, which also links libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
