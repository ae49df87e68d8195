#include "pipeline/stage1_report.h"

#include <cmath>
#include <iomanip>
#include <sstream>

#include "common/text_format.h"

namespace seedforge {

namespace {

nlohmann::json accuracy_json(const AccuracyFigures& a) {
  nlohmann::json j = {{"tokens", a.tokens}, {"perplexity", a.perplexity}, {"top1", a.top1}};
  if (a.hellaswag_acc) {
    j["hellaswag"] = {{"tasks", a.hellaswag_tasks}, {"acc", *a.hellaswag_acc}, {"acc_norm", *a.hellaswag_acc_norm}};
  }
  return j;
}

// The top-1 change in points, said the way it went: "1.46 points lower", or
// "2.10 points higher" for a student that beats the original (it can on its
// own training text).
std::string top1_change(double before, double after) {
  const double points = 100.0 * (before - after);
  return fixed(std::abs(points), 2) + (points < 0 ? " points higher" : " points lower");
}

// Projection weights stored ternary and at more levels (bitnet.projection_levels).
struct ProjectionWeights {
  int64_t ternary = 0, levels = 0;
};
ProjectionWeights projection_weights(const Stage1Report& r) {
  ProjectionWeights w;
  for (const auto& t : r.tensors) {
    if (t.codec == "ternary") w.ternary += t.params;
    if (t.codec == "levels") w.levels += t.params;
  }
  return w;
}

}  // namespace

nlohmann::json report_json(const Stage1Report& r) {
  const ProjectionWeights pw = projection_weights(r);
  nlohmann::json tensors = nlohmann::json::array();
  for (const auto& t : r.tensors) {
    tensors.push_back({{"name", t.name}, {"codec", t.codec}, {"shape", t.shape}, {"params", t.params}, {"bytes", t.bytes},
                       {"bits_per_weight", t.bits_per_weight}, {"relative_error", t.relative_error}});
  }
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& s : r.stages) {
    stages.push_back({{"stage", s.stage}, {"seconds", s.seconds}, {"peak_rss_bytes", s.peak_rss_bytes},
                      {"end_rss_bytes", s.end_rss_bytes}});
  }
  return {
      {"input", r.input},
      {"output", r.output},
      {"size", {{"input_bytes", r.input_bytes}, {"output_bytes", r.output_bytes}, {"parameters", r.parameters},
                {"compression_ratio", r.compression_ratio}, {"bits_per_weight", r.bits_per_weight},
                {"ternary_weights", pw.ternary}, {"wider_projection_weights", pw.levels}}},
      {"accuracy", {{"eval_text", r.eval_text}, {"before", accuracy_json(r.before)}, {"after", accuracy_json(r.after)},
                    {"retention", r.retention}, {"top1_drop_points", 100.0 * (r.before.top1 - r.after.top1)}}},
      {"accuracy_on_training_text",
       r.train_before.tokens == 0
           ? nlohmann::json(nullptr)
           : nlohmann::json{{"text", r.train_sample}, {"before", accuracy_json(r.train_before)},
                            {"after", accuracy_json(r.train_after)}, {"retention", r.train_retention},
                            {"top1_drop_points", 100.0 * (r.train_before.top1 - r.train_after.top1)}}},
      {"training", {{"steps", r.train_steps}, {"tokens", r.train_tokens}, {"seconds", r.train_seconds},
                    {"tokens_per_second", r.train_tokens_per_second}, {"final_loss", r.final_loss},
                    {"ranks", r.train_ranks}, {"batch_size", r.train_batch_size}, {"grad_accum", r.train_grad_accum}}},
      {"constraints", {{"target_compression_ratio", r.target_compression_ratio}, {"min_retention", r.min_retention},
                       {"compression_ratio_ok", r.ratio_ok}, {"retention_ok", r.retention_ok},
                       {"ok", r.constraints_ok()}, {"violations", r.violations}}},
      {"stages", stages},
      {"peak_rss_bytes", r.peak_rss_bytes},
      {"threads", r.threads},
      {"tensors", tensors},
      {"config", r.config},
  };
}

std::string stage1_embedded_metrics(const Stage1Report& r) {
  nlohmann::json j = {{"input_bytes", r.input_bytes},
                      {"parameters", r.parameters},
                      {"eval_tokens", r.before.tokens},
                      {"top1_before", r.before.top1},
                      {"top1_after", r.after.top1},
                      {"perplexity_before", r.before.perplexity},
                      {"perplexity_after", r.after.perplexity},
                      {"retention", r.retention},
                      {"train_steps", r.train_steps},
                      {"train_tokens", r.train_tokens},
                      {"final_loss", r.final_loss}};
  return j.dump();
}

std::string report_markdown(const Stage1Report& r) {
  std::ostringstream out;
  out << "## Stage 1: " << r.input << " -> " << r.output << "\n\n";
  out << "| metric | before | after |\n|---|---|---|\n";
  out << "| size (bytes) | " << r.input_bytes << " | " << r.output_bytes << " |\n";
  out << "| compression ratio | | " << fixed(r.compression_ratio, 2) << "x (target " << fixed(r.target_compression_ratio, 1)
      << "x) |\n";
  out << "| bits per weight | " << fixed(r.parameters ? double(r.input_bytes) * 8 / double(r.parameters) : 0, 2) << " | "
      << fixed(r.bits_per_weight, 2) << " |\n";
  if (const ProjectionWeights pw = projection_weights(r); pw.levels > 0) {
    out << "| projection weights not ternary | | " << pw.levels << " of " << pw.ternary + pw.levels << " ("
        << fixed(100.0 * double(pw.levels) / double(pw.ternary + pw.levels), 1) << "%) at 5 to 15 levels |\n";
  }
  {
    out << "| top-1 (" << r.before.tokens << " tokens) | " << fixed(r.before.top1, 5) << " | " << fixed(r.after.top1, 5)
        << " |\n";
    out << "| top-1 retention | | " << fixed(100 * r.retention, 2) << "% (min " << fixed(100 * r.min_retention, 1)
        << "%), " << top1_change(r.before.top1, r.after.top1) << " |\n";
    out << "| perplexity | " << fixed(r.before.perplexity, 4) << " | " << fixed(r.after.perplexity, 4) << " |\n";
    if (r.before.hellaswag_acc && r.after.hellaswag_acc) {
      out << "| HellaSwag acc (" << r.before.hellaswag_tasks << " tasks) | " << fixed(*r.before.hellaswag_acc, 4) << " | "
          << fixed(*r.after.hellaswag_acc, 4) << " |\n";
      out << "| HellaSwag acc_norm | " << fixed(*r.before.hellaswag_acc_norm, 4) << " | "
          << fixed(*r.after.hellaswag_acc_norm, 4) << " |\n";
    }
    if (r.train_before.tokens > 0) {
      out << "| top-1 on training text (" << r.train_before.tokens << " tokens) | " << fixed(r.train_before.top1, 5) << " | "
          << fixed(r.train_after.top1, 5) << " |\n";
      out << "| retention on training text | | " << fixed(100 * r.train_retention, 2) << "%, "
          << top1_change(r.train_before.top1, r.train_after.top1) << " |\n";
    }
  }
  out << "\n| stage | seconds | host peak MiB |\n|---|---|---|\n";
  for (const auto& s : r.stages) {
    out << "| " << s.stage << " | " << fixed(s.seconds, 2) << " | "
        << (s.peak_rss_bytes >= 0 ? fixed(double(s.peak_rss_bytes) / (1 << 20), 1) : std::string("-")) << " |\n";
  }
  out << "\npeak memory " << fixed(double(r.peak_rss_bytes) / (1 << 20), 1) << " MiB, " << r.threads << " threads";
  if (r.train_steps > 0) {
    out << "; fine-tuning " << r.train_steps << " steps, " << r.train_tokens << " tokens, "
        << fixed(r.train_tokens_per_second, 0) << " tokens/s";
  }
  out << "\n";
  {
    out << "\nconstraints: " << (r.constraints_ok() ? "all met" : "NOT met") << "\n";
    for (const auto& v : r.violations) out << "- " << v << "\n";
  }
  return out.str();
}

}  // namespace seedforge
