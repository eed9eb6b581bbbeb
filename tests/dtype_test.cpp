#include <gtest/gtest.h>
#include <isomer/error.h>
#include <isomer/ops/dtype.h>

namespace isomer {

TEST(DType, RowBytesFollowsBlockLayout) {
  EXPECT_EQ(row_bytes(DType::F32, 7), 28u);
  EXPECT_EQ(row_bytes(DType::Q8_0, 64), 68u);
  EXPECT_EQ(row_bytes(DType::Q4_K, 512), 288u);
  EXPECT_THROW(row_bytes(DType::Q4_0, 33), Error);
}

TEST(DType, UnsupportedIdsAreNamed) {
  EXPECT_FALSE(dtype_traits(10).has_value());  // Q2_K
  EXPECT_EQ(ggml_type_name(10), "Q2_K");
  EXPECT_EQ(ggml_type_name(9999), "unknown");
}

}  // namespace isomer
