// HellaSwag tasks from either of the two common file layouts. Torch-free.
//
// JSONL (rowanz/hellaswag, Hugging Face `Rowan/hellaswag`), one task a line:
//   {"activity_label": "...", "ctx": "...", "endings": [4 strings], "label": 0..3}
//   or with "ctx_a"/"ctx_b" instead of (or beside) "ctx"; "label" may be an
//   integer or a string of digits (the Hugging Face copy stores "3").
//   As lm-evaluation-harness does (tasks/hellaswag/utils.py), the context is
//   preprocess(activity_label + ": " + ctx_a + " " + capitalize(ctx_b)) when
//   ctx_a is present, else preprocess(activity_label + ": " + ctx); each ending
//   is preprocess(ending). preprocess: strip, " [title]" -> ". ", drop
//   "[...]" spans, "  " -> " " (WikiHow artifacts; a no-op on clean text).
//
// llama.cpp `--hellaswag` text layout, 6 lines a task, taken as is (it is
// already preprocessed):
//   activity_label: ctx
//   gold ending index (0..3)
//   ending 0
//   ending 1
//   ending 2
//   ending 3
//
// Errors name the file and the 1-based line: malformed JSON, a missing or
// mistyped field, other than 4 endings, an empty ending, a label out of range.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace seedforge {

// A multiple-choice task: pick the ending that best continues the context.
struct MultipleChoiceTask {
  std::string context;               // e.g. "Roof shingle removal: A man is sitting on a roof. he"
  std::vector<std::string> endings;  // without the leading space the scorer adds
  int32_t label = -1;                // index of the correct ending
  int64_t line = 0;                  // 1-based line of the task in its file, for messages
};

constexpr int kHellaswagEndings = 4;

// Reads a HellaSwag file, choosing the layout by content: JSONL when the first
// non-blank character is '{', else the 6-line text layout. `layout` (when not
// null) receives "jsonl" or "text". Throws input_error for an empty file.
std::vector<MultipleChoiceTask> read_hellaswag(const std::string& path, std::string* layout = nullptr);

// The two parsers over file contents; `where` names the source in errors.
std::vector<MultipleChoiceTask> parse_hellaswag_jsonl(const std::string& contents, const std::string& where);
std::vector<MultipleChoiceTask> parse_hellaswag_text(const std::string& contents, const std::string& where);

// lm-evaluation-harness's HellaSwag text cleanup (see above).
std::string hellaswag_preprocess(const std::string& text);

}  // namespace seedforge
