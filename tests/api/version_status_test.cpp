// version_status_test.cpp: C API sections "Version" and "Status": numbers, names, device counts.
#include <gtest/gtest.h>
#include <kvc/kvc.h>

#include <string>

TEST(Version, RunTimeVersionMatchesTheHeader) {
  EXPECT_EQ(kvc_version_number(), uint32_t{KVC_VERSION_NUMBER});
  EXPECT_EQ(KVC_VERSION_NUMBER,
            KVC_VERSION_MAJOR * 10000 + KVC_VERSION_MINOR * 100 + KVC_VERSION_PATCH);
  EXPECT_EQ(std::string(kvc_version_string()), std::to_string(KVC_VERSION_MAJOR) + "." +
                                                   std::to_string(KVC_VERSION_MINOR) + "." +
                                                   std::to_string(KVC_VERSION_PATCH));
}

TEST(Status, EveryCodeHasItsConstantsName) {
  EXPECT_STREQ(kvc_status_name(KVC_OK), "KVC_OK");
  EXPECT_STREQ(kvc_status_name(KVC_ERR_INVALID_ARGUMENT), "KVC_ERR_INVALID_ARGUMENT");
  EXPECT_STREQ(kvc_status_name(KVC_ERR_BUFFER_TOO_SMALL), "KVC_ERR_BUFFER_TOO_SMALL");
  EXPECT_STREQ(kvc_status_name(KVC_ERR_CORRUPT_DATA), "KVC_ERR_CORRUPT_DATA");
  EXPECT_STREQ(kvc_status_name(KVC_ERR_BUSY), "KVC_ERR_BUSY");
  EXPECT_STREQ(kvc_status_name(KVC_ERR_UNSUPPORTED_VERSION), "KVC_ERR_UNSUPPORTED_VERSION");
  EXPECT_STREQ(kvc_status_name(KVC_ERR_OUT_OF_MEMORY), "KVC_ERR_OUT_OF_MEMORY");
  EXPECT_STREQ(kvc_status_name(KVC_ERR_DEVICE), "KVC_ERR_DEVICE");
  EXPECT_STREQ(kvc_status_name(KVC_ERR_IO), "KVC_ERR_IO");
  EXPECT_STREQ(kvc_status_name(KVC_ERR_INTERNAL), "KVC_ERR_INTERNAL");
}

TEST(Status, UnknownCodesAreNamedUnknownAndNeverNull) {
  for (kvc_status s : {-1, 9, 99, 101, INT32_MIN, INT32_MAX}) {
    ASSERT_NE(kvc_status_name(s), nullptr);
    EXPECT_STREQ(kvc_status_name(s), "KVC_ERR_UNKNOWN") << s;
  }
}

TEST(Status, ConstantsKeepTheirValues) {
  EXPECT_EQ(KVC_OK, 0);
  EXPECT_EQ(KVC_ERR_INVALID_ARGUMENT, 1);
  EXPECT_EQ(KVC_ERR_BUFFER_TOO_SMALL, 2);
  EXPECT_EQ(KVC_ERR_CORRUPT_DATA, 3);
  EXPECT_EQ(KVC_ERR_UNSUPPORTED_VERSION, 4);
  EXPECT_EQ(KVC_ERR_OUT_OF_MEMORY, 5);
  EXPECT_EQ(KVC_ERR_DEVICE, 6);
  EXPECT_EQ(KVC_ERR_IO, 7);
  EXPECT_EQ(KVC_ERR_INTERNAL, 100);
}

TEST(Devices, ThereIsOneCpuAndNoDeviceOfAnUnknownKind) {
  EXPECT_EQ(kvc_device_count(KVC_DEVICE_CPU), 1);
  EXPECT_GE(kvc_device_count(KVC_DEVICE_CUDA), 0);  // 0 without a GPU, never an abort
  EXPECT_EQ(kvc_device_count(7), 0);
  EXPECT_EQ(kvc_device_count(-1), 0);
}
