# Warnings every Herald target gets; CI may turn them into errors.
function(herald_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter
    # g++ 12 reports Asio's coroutine frame allocator as mismatched: a false positive.
    -Wno-mismatched-new-delete)
  if(HERALD_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
