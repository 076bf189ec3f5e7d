#pragma once
// Exception types shared by the media pipeline. They are separate so a job worker can map
// each to an outcome without string matching: MediaError means "this input cannot be
// processed" (fail the job, do not retry), Cancelled means "someone asked us to stop" (not
// a failure), ModelError means "the server is misconfigured" (an operator must act).
#include <exception>
#include <stdexcept>

namespace herald::pipeline {

// The input media (or a tool that reads it) failed; what() is meant for humans and names
// the file and, where known, the tool's own error text.
class MediaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Work stopped because the caller's cancel flag became true.
class Cancelled : public std::exception {
 public:
  const char* what() const noexcept override { return "cancelled"; }
};

// A recognition/embedding model is missing or could not be loaded.
class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace herald::pipeline
