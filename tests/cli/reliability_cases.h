// The bad inputs and faults that the CLI tests put `stage1` through, one row
// each: what the user sees, the exit code and what is left on disk. The tests
// assert exactly these values (reliability_case("id") in test_cli_faults.cpp
// and test_cli_stage1.cpp) and test_cli_faults checks that docs/RELIABILITY.md
// holds this table, so the document cannot drift from what is tested.
//
// `message`: a part of the output that the test requires, verbatim.
// `exit_code`: -9 = killed by SIGKILL (no exit code of its own).
// `left`: the files named after the output (<output>*, and the checkpoint
// folder's content) after the run, ';'-separated, "<pid>" for a process id;
// "" = none. The log stage1_compression.log is not listed: every run that got
// as far as taking the output lock appends to it.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace seedforge::test {

struct ReliabilityCase {
  const char* id;
  const char* situation;
  const char* message;
  int exit_code;
  const char* left;
};

inline const std::vector<ReliabilityCase>& reliability_cases() {
  static const std::vector<ReliabilityCase> cases = {
      // ---- bad input ----
      {"missing-input", "`--input` does not exist", "' does not exist", 1, ""},
      {"truncated-input", "the input checkpoint is truncated (100 bytes cut off)", "(truncated?)", 1, ""},
      {"shape-mismatch", "the input's header declares shapes its data does not have (6 layers instead of 5)",
       "implies 1238300 bytes, file has 1056540", 1, ""},
      {"nan-weights", "a weight of the input is NaN", "has NaN or Inf values", 1, ""},
      {"unknown-config-key", "the config has a key that does not exist (`bitnet.lrr`)",
       "unknown key 'bitnet.lrr' (did you mean 'bitnet.lr'?)", 2, ""},
      {"wrong-config-type", "a config value has the wrong type (`\"lr\": \"fast\"`)",
       "bitnet.lr must be a number, got string \"fast\"", 2, ""},
      {"config-out-of-range", "a config value is out of range (`warmup_fraction` 1.5)",
       "bitnet.warmup_fraction must be in [0, 1], got 1.5", 2, ""},
      {"missing-train-text", "`bitnet.train_text` names a file that does not exist",
       "bitnet.train_text: '", 1, ""},
      {"train-text-is-eval-text", "`bitnet.train_text` takes in the evaluation text (a folder holding valid.txt)",
       "', the eval.text text '", 2, ""},
      {"unsupported-isa", "`SEEDFORGE_ISA` names an unknown instruction set", "SEEDFORGE_ISA=sse9: expected generic, avx2 or avx512", 2, ""},
      {"missing-output-folder", "the folder of `--output` does not exist", "does not exist", 2, ""},
      {"read-only-output-folder", "the folder of `--output` is not writable (skipped as root)", "is not writable", 2,
       ""},
      {"corrupt-stage1-file", "`stage1 inspect` of a corrupt .stage1.pt", "bad.stage1.pt' is not a zip archive", 1, ""},
      {"resume-without-checkpoint", "`--resume` without a checkpoint", "no checkpoint to resume from (file missing)", 1,
       ""},
      {"resume-changed-config", "`--resume` with a config that changes the model", "fingerprint", 2,
       "<output>.checkpoints/bitnet_checkpoint.pt"},
      // ---- faults ----
      {"write-fails", "the output cannot be written completely (file-size limit, `ulimit -f`)",
       "File too large (the partial temporary '", 1, "<output> (the earlier file, byte-identical)"},
      {"sigint-fine-tuning", "SIGINT (Ctrl-C) during fine-tuning",
       "stopped by SIGINT at step 5 of 8; checkpoint written to", 130, "<output>.checkpoints/bitnet_checkpoint.pt"},
      {"sigterm-fine-tuning", "SIGTERM during fine-tuning", "stopped by SIGTERM at step 5 of 8; checkpoint written to",
       143, "<output>.checkpoints/bitnet_checkpoint.pt"},
      {"resume-after-interrupt", "`--resume` after SIGINT", "at step 5 of 8", 3,
       "<output>; <output>.checkpoints/bitnet_checkpoint.pt; <output>.report.json"},
      {"sigint-before-stage", "SIGINT while a stage other than fine-tuning runs (here: loading)",
       "stopped by SIGINT before the stage 'baseline evaluation'; nothing was written", 130, ""},
      {"kill-load", "kill -9 as loading starts", "", -9, "<output>.lock (not held: the next run takes it over)"},
      {"kill-fine-tuning", "kill -9 halfway through fine-tuning", "", -9, "<output>.lock (not held)"},
      {"kill-encoding", "kill -9 as encoding starts", "", -9, "<output>.lock (not held)"},
      {"kill-writing", "kill -9 while writing the output (its temporary partly written)", "", -9,
       "<output> (the earlier file, byte-identical); <output>.lock (not held); <output>.tmp.<pid> (the dead run's)"},
      {"rerun-after-kill", "the next run after a kill -9 while writing: removes the dead run's temporary",
       "left by an earlier run that was killed", 3, "<output> (the new one); <output>.report.json"},
      {"concurrent-run", "a second run given the same `--output` while the first runs", "another run is writing", 1,
       "<output>.lock (the first run's, which goes on)"},
      {"metrics-port-in-use", "`--metrics-port` already taken by another program", "(port in use)", 1, ""},
      {"metrics-bad-requests", "malformed, oversized and slow requests to `/metrics` during a run",
       "constraints: NOT met", 3, "<output>; <output>.report.json"},
  };
  return cases;
}

inline const ReliabilityCase& reliability_case(const std::string& id) {
  for (const ReliabilityCase& c : reliability_cases()) {
    if (c.id == id) return c;
  }
  throw std::invalid_argument("no reliability case '" + id + "' in tests/cli/reliability_cases.h");
}

}  // namespace seedforge::test
