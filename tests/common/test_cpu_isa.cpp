// SEEDFORGE_ISA: the cap on the kernel dispatch. Unset, the dispatch takes the
// CPU's best level; set, it takes at most the named one; a name that is
// unknown or above this CPU is a usage error naming the variable. Checked on
// whatever CPU runs the test, for every level it has.
#include <gtest/gtest.h>

#include <string>

#include "codec/seedlm_scan.h"
#include "common/cpu_isa.h"
#include "common/error.h"
#include "test_util.h"

using namespace seedforge;

TEST(CpuIsa, LevelsAreNestedAndGenericAlwaysRuns) {
  EXPECT_TRUE(cpu_has_isa(Isa::kGeneric));
  if (cpu_has_isa(Isa::kAvx512)) {
    EXPECT_TRUE(cpu_has_isa(Isa::kAvx2));
  }
  EXPECT_TRUE(cpu_has_isa(cpu_best_isa()));
  for (Isa isa : kAllIsas) {
    if (static_cast<int>(isa) > static_cast<int>(cpu_best_isa())) {
      EXPECT_FALSE(cpu_has_isa(isa)) << isa_name(isa);
    }
  }
}

TEST(CpuIsa, UnsetMeansTheCpusBest) {
  test::ScopedEnv env("SEEDFORGE_ISA", nullptr);
  EXPECT_EQ(isa_ceiling(), cpu_best_isa());
  test::ScopedEnv empty("SEEDFORGE_ISA", "");
  EXPECT_EQ(isa_ceiling(), cpu_best_isa());
}

TEST(CpuIsa, EveryLevelThisCpuRunsCanBeForced) {
  for (Isa isa : kAllIsas) {
    if (!cpu_has_isa(isa)) continue;
    test::ScopedEnv env("SEEDFORGE_ISA", isa_name(isa));
    EXPECT_EQ(isa_ceiling(), isa);
    // The SeedLM scan takes the forced level (it is compiled for all three on x86-64).
    const Isa expected = seedlm_isa_supported(isa) ? isa : Isa::kGeneric;
    EXPECT_EQ(seedlm_default_isa(), expected) << isa_name(isa);
  }
}

TEST(CpuIsa, UnknownOrUnsupportedLevelIsAUsageErrorNamingTheVariable) {
  auto error_for = [](const char* value) -> std::string {
    test::ScopedEnv env("SEEDFORGE_ISA", value);
    try {
      isa_ceiling();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUsage) << value;
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(error_for("sse9").find("SEEDFORGE_ISA=sse9: expected generic, avx2 or avx512"), std::string::npos);
  EXPECT_NE(error_for("AVX2").find("SEEDFORGE_ISA=AVX2"), std::string::npos);
  for (Isa isa : kAllIsas) {
    if (cpu_has_isa(isa)) continue;
    const std::string message = error_for(isa_name(isa));
    EXPECT_NE(message.find("this CPU cannot run it"), std::string::npos) << message;
  }
}
