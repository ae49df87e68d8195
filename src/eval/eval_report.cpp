#include "eval/eval_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "common/error.h"
#include "common/text_format.h"
#include "eval/documents.h"
#include "eval/hellaswag.h"
#include "eval/peak_memory.h"
#include "eval/progress.h"
#include "infer/kernels.h"
#include "io/model_loader.h"
#include "runtime/threads.h"

namespace seedforge {

namespace {

torch::Device parse_device(const std::string& name) {
  std::optional<torch::Device> device;
  try {
    device = torch::Device(name);
  } catch (const std::exception&) {
    throw usage_error("--device: expected \"cpu\", \"cuda\" or \"cuda:N\", got \"", name, "\"");
  }
  if (device->is_cuda() && !torch::cuda::is_available()) {
    throw usage_error("--device ", name, ": no CUDA device available (this libtorch build or machine has none)");
  }
  if (!device->is_cpu() && !device->is_cuda()) throw usage_error("--device: only cpu and cuda are supported, got ", name);
  return *device;
}

std::string file_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

std::optional<double> ratio(double now, double original) {
  if (!(original > 0.0)) return std::nullopt;
  return now / original;
}

// Evaluates one model; the model is freed when this returns, so that a second
// model's peak memory does not include the first's weights.
ModelEvaluation evaluate_model(const std::string& path, const std::string& tokenizer_path, const EvalRequest& request,
                               torch::Device device, const std::vector<std::string>& documents,
                               const std::vector<MultipleChoiceTask>& tasks, const std::string& label) {
  ModelEvaluation out;
  out.model = path;
  out.peak_rss_since_load = reset_peak_rss();
  const int cuda_index = device.is_cuda() ? (device.index() < 0 ? 0 : device.index()) : -1;
  if (cuda_index >= 0) reset_peak_cuda_bytes(cuda_index);

  LoadedModel loaded = request.loader ? request.loader(path, tokenizer_path, device) : load_model(path, tokenizer_path, device);
  const bool engine = loaded.engine != nullptr;
  // The engine runs `threads` sessions side by side for independent items and
  // one session of `threads` threads for the speed figures.
  infer::SessionOptions session;
  session.threads = std::max(1, configured_threads());
  if (engine) {
    out.engine = std::string("ternary (") + infer::default_kernels().name + ")";
    out.size = measure_model_size(path, loaded.checkpoint.format, loaded.engine->parameter_counts());
  } else {
    out.engine = "torch";
    loaded.model->eval();
    std::vector<std::pair<std::string, int64_t>> counts;
    for (const auto& item : loaded.model->named_parameters()) counts.emplace_back(item.key(), item.value().numel());
    out.size = measure_model_size(path, loaded.checkpoint.format, counts);
  }
  const int64_t window = loaded.checkpoint.config.max_seq_len;
  const double delay = request.progress ? 3.0 : 1e300;

  if (!documents.empty()) {
    const auto tokens = tokenize_documents(documents, *loaded.tokenizer, window);
    ProgressIndicator progress(label.empty() ? "text documents" : "text " + label + " documents", delay);
    TextEvalOptions options;
    if (request.batch_tokens > 0) options.batch_tokens = request.batch_tokens;
    options.device = device;
    options.progress = progress.callback();
    out.text = engine ? evaluate_documents(loaded.engine, tokens, options, session)
                      : evaluate_documents(loaded.model, tokens, options);
  }
  if (!tasks.empty()) {
    ProgressIndicator progress(label.empty() ? "hellaswag endings" : "hellaswag " + label + " endings", delay);
    MultipleChoiceOptions options;
    if (request.batch_tokens > 0) options.batch_tokens = request.batch_tokens;
    options.max_seq_len = window;
    options.device = device;
    options.progress = progress.callback();
    const std::string where = "'" + request.hellaswag + "'";
    out.hellaswag = engine ? score_multiple_choice(loaded.engine, *loaded.tokenizer, tasks, options, where, session)
                           : score_multiple_choice(loaded.model, *loaded.tokenizer, tasks, options, where);
  }
  if (request.speed) {
    out.speed = engine ? measure_speed(loaded.engine, request.speed_options, session)
                       : measure_speed(loaded.model, request.speed_options);
  }
  out.peak_rss_bytes = peak_rss_bytes();
  if (cuda_index >= 0) out.peak_cuda_bytes = peak_cuda_bytes(cuda_index);
  return out;
}

nlohmann::json optional_json(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

nlohmann::json size_json(const ModelSize& size) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : size.tensors) {
    tensors.push_back({{"name", t.name},
                       {"params", t.params},
                       {"bytes", t.bytes >= 0 ? nlohmann::json(t.bytes) : nlohmann::json(nullptr)},
                       {"codec", t.codec.empty() ? nlohmann::json(nullptr) : nlohmann::json(t.codec)},
                       {"bits_per_weight", t.bytes >= 0 ? nlohmann::json(t.bits_per_weight()) : nlohmann::json(nullptr)}});
  }
  return {{"format", size.format},
          {"file_bytes", size.file_bytes},
          {"parameters", size.parameters},
          {"bits_per_weight", size.bits_per_weight},
          {"overhead_bytes", size.overhead_bytes >= 0 ? nlohmann::json(size.overhead_bytes) : nlohmann::json(nullptr)},
          {"tensors", tensors}};
}

nlohmann::json model_json(const ModelEvaluation& m, const EvalReport& report) {
  nlohmann::json j = {{"model", m.model}, {"engine", m.engine}};
  if (m.text) {
    const auto& t = *m.text;
    j["text"] = report.text_path;
    j["documents"] = t.documents;
    j["tokens"] = t.tokens;
    j["perplexity"] = t.perplexity;
    j["top1"] = t.top1;
    j["nll_sum"] = t.nll_sum;
    j["seconds"] = t.seconds;
    j["tokens_per_second"] = t.tokens_per_second;
  }
  if (m.hellaswag) {
    const auto& h = *m.hellaswag;
    j["hellaswag"] = {{"file", report.hellaswag_path},
                      {"layout", report.hellaswag_layout},
                      {"tasks", h.tasks},
                      {"acc", h.acc},
                      {"acc_norm", h.acc_norm},
                      {"acc_stderr", h.acc_stderr},
                      {"acc_norm_stderr", h.acc_norm_stderr},
                      {"correct", h.correct},
                      {"correct_norm", h.correct_norm},
                      {"sequences", h.sequences},
                      {"scored_tokens", h.scored_tokens},
                      {"boundary_merges", h.boundary_merges},
                      {"truncated", h.truncated},
                      {"seconds", h.seconds}};
  }
  if (m.speed) {
    const auto& s = *m.speed;
    j["speed"] = {{"device", s.device},
                  {"threads", s.threads},
                  {"prefill_batch", s.prefill_batch},
                  {"prefill_tokens", s.prefill_tokens},
                  {"prefill_seconds", s.prefill_seconds},
                  {"prefill_tokens_per_second", s.prefill_tokens_per_second},
                  {"decode_tokens", s.decode_tokens},
                  {"decode_seconds", s.decode_seconds},
                  {"decode_tokens_per_second", s.decode_tokens_per_second},
                  {"peak_rss_bytes", s.peak_rss_bytes},
                  {"peak_cuda_bytes", s.peak_cuda_bytes >= 0 ? nlohmann::json(s.peak_cuda_bytes) : nlohmann::json(nullptr)}};
  }
  j["size"] = size_json(m.size);
  j["memory"] = {{"peak_rss_bytes", m.peak_rss_bytes},
                 {"peak_rss_scope", m.peak_rss_since_load ? "model" : "process"},
                 {"peak_cuda_bytes", m.peak_cuda_bytes >= 0 ? nlohmann::json(m.peak_cuda_bytes) : nlohmann::json(nullptr)}};
  return j;
}

// Markdown cells.
std::string grouped(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string mib(int64_t bytes) { return bytes < 0 ? "n/a" : fixed(double(bytes) / (1024.0 * 1024.0), 1); }

std::string opt_fixed(const std::optional<double>& v, int digits) { return v ? fixed(*v, digits) : ""; }

}  // namespace

Retention compute_retention(const ModelEvaluation& model, const ModelEvaluation& original) {
  Retention r;
  if (model.text && original.text) r.top1 = ratio(model.text->top1, original.text->top1);
  if (model.hellaswag && original.hellaswag) {
    r.hellaswag_acc = ratio(model.hellaswag->acc, original.hellaswag->acc);
    r.hellaswag_acc_norm = ratio(model.hellaswag->acc_norm, original.hellaswag->acc_norm);
  }
  return r;
}

EvalReport run_evaluation(const EvalRequest& request) {
  if (request.model.empty()) throw usage_error("eval: --model is required");
  if (request.batch_tokens < 0) throw usage_error("--batch-tokens must be >= 0, got ", request.batch_tokens);
  const torch::Device device = parse_device(request.device);
  EvalReport report;
  report.device = device.str();
  report.threads = configured_threads();
  report.blas = blas_description();
  report.text_path = request.text;
  report.hellaswag_path = request.hellaswag;

  // Inputs first: a bad file is reported before minutes of model loading.
  std::vector<std::string> documents;
  if (!request.text.empty()) {
    documents = read_documents(request.text);
    if (request.max_docs > 0 && static_cast<int64_t>(documents.size()) > request.max_docs) {
      documents.resize(static_cast<size_t>(request.max_docs));
    }
  }
  std::vector<MultipleChoiceTask> tasks;
  if (!request.hellaswag.empty()) {
    tasks = read_hellaswag(request.hellaswag, &report.hellaswag_layout);
    if (request.max_tasks > 0 && static_cast<int64_t>(tasks.size()) > request.max_tasks) {
      tasks.resize(static_cast<size_t>(request.max_tasks));
    }
  }

  const bool comparing = !request.compare.empty();
  report.model = evaluate_model(request.model, request.tokenizer, request, device, documents, tasks,
                                comparing ? file_name(request.model) : "");
  if (comparing) {
    const std::string tokenizer = request.compare_tokenizer.empty() ? request.tokenizer : request.compare_tokenizer;
    report.original = evaluate_model(request.compare, tokenizer, request, device, documents, tasks,
                                     "original " + file_name(request.compare));
    report.retention = compute_retention(report.model, *report.original);
    report.compression_ratio = compression_ratio(report.original->size, report.model.size);
  }
  return report;
}

nlohmann::json eval_report_json(const EvalReport& report) {
  nlohmann::json j = model_json(report.model, report);
  j["device"] = report.device;
  j["threads"] = report.threads;
  j["blas"] = report.blas;
  if (report.original) {
    nlohmann::json original = model_json(*report.original, report);
    original["compression_ratio"] = optional_json(report.compression_ratio);
    j["compare"] = original;
    j["retention"] = {{"top1", optional_json(report.retention.top1)},
                      {"hellaswag_acc", optional_json(report.retention.hellaswag_acc)},
                      {"hellaswag_acc_norm", optional_json(report.retention.hellaswag_acc_norm)}};
  }
  return j;
}

std::string eval_report_markdown(const EvalReport& report) {
  const ModelEvaluation& m = report.model;
  const ModelEvaluation* o = report.original ? &*report.original : nullptr;
  std::ostringstream out;
  out << "Device " << report.device << ", " << report.threads << " threads, BLAS " << report.blas << "\n\n";
  if (o != nullptr) {
    out << "| metric | " << file_name(m.model) << " | original " << file_name(o->model) << " | retention |\n"
        << "|---|---:|---:|---:|\n";
  } else {
    out << "| metric | " << file_name(m.model) << " |\n|---|---:|\n";
  }
  auto row = [&](const std::string& name, const std::string& value, const std::string& original_value,
                 const std::string& retention) {
    out << "| " << name << " | " << value << " |";
    if (o != nullptr) out << " " << original_value << " | " << retention << " |";
    out << "\n";
  };
  auto both = [&](const std::string& name, auto&& cell, const std::string& retention = "") {
    row(name, cell(m), o != nullptr ? cell(*o) : "", retention);
  };

  both("engine", [](const ModelEvaluation& e) { return e.engine; });
  both("file bytes", [](const ModelEvaluation& e) { return grouped(e.size.file_bytes); });
  both("parameters", [](const ModelEvaluation& e) { return grouped(e.size.parameters); });
  both("bits per weight", [](const ModelEvaluation& e) { return fixed(e.size.bits_per_weight, 3); });
  if (report.compression_ratio) row("compression ratio (original / this)", fixed(*report.compression_ratio, 3), "", "");
  if (m.text) {
    const std::string where = file_name(report.text_path);
    auto text_cell = [](const ModelEvaluation& e, auto field) { return e.text ? field(*e.text) : std::string(); };
    both("scored tokens (" + where + ")",
         [&](const ModelEvaluation& e) { return text_cell(e, [](const TextEvalResult& t) { return grouped(t.tokens); }); });
    both("perplexity", [&](const ModelEvaluation& e) {
      return text_cell(e, [](const TextEvalResult& t) { return fixed(t.perplexity, 4); });
    });
    both("top-1 accuracy",
         [&](const ModelEvaluation& e) { return text_cell(e, [](const TextEvalResult& t) { return fixed(t.top1, 5); }); },
         opt_fixed(report.retention.top1, 4));
  }
  if (m.hellaswag) {
    const std::string tasks = grouped(m.hellaswag->tasks);
    both("HellaSwag acc (" + tasks + " tasks)", [](const ModelEvaluation& e) {
      return e.hellaswag ? fixed(e.hellaswag->acc, 4) + " ± " + fixed(e.hellaswag->acc_stderr, 4) : std::string();
    }, opt_fixed(report.retention.hellaswag_acc, 4));
    both("HellaSwag acc_norm", [](const ModelEvaluation& e) {
      return e.hellaswag ? fixed(e.hellaswag->acc_norm, 4) + " ± " + fixed(e.hellaswag->acc_norm_stderr, 4)
                         : std::string();
    }, opt_fixed(report.retention.hellaswag_acc_norm, 4));
  }
  if (m.speed) {
    const auto& s = *m.speed;
    both("prefill tokens/s (" + std::to_string(s.prefill_batch) + " x " + std::to_string(s.prefill_tokens) + ")",
         [](const ModelEvaluation& e) { return e.speed ? fixed(e.speed->prefill_tokens_per_second, 0) : std::string(); });
    both("decode tokens/s (" + std::to_string(s.decode_tokens) + " steps, KV cache)",
         [](const ModelEvaluation& e) { return e.speed ? fixed(e.speed->decode_tokens_per_second, 0) : std::string(); });
  }
  both(std::string("peak RSS MiB") + (m.peak_rss_since_load ? "" : " (process)"),
       [](const ModelEvaluation& e) { return mib(e.peak_rss_bytes); });
  if (m.peak_cuda_bytes >= 0) both("peak CUDA MiB", [](const ModelEvaluation& e) { return mib(e.peak_cuda_bytes); });
  return out.str();
}

}  // namespace seedforge
