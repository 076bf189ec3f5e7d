// Log text: a client-chosen value cannot start a new log line or drive a terminal.
#include <gtest/gtest.h>

#include "core/log_text.h"

using herald::core::logText;

TEST(LogText, PlainTextAndUtf8AreCopied) {
  EXPECT_EQ(logText("job 42: Running (user alice)"), "job 42: Running (user alice)");
  EXPECT_EQ(logText("vidéo ✓ \xc2\xa0nbsp"), "vidéo ✓ \xc2\xa0nbsp");
  EXPECT_EQ(logText(""), "");
}

TEST(LogText, LineBreaksAndTerminalEscapesAreEscaped) {
  EXPECT_EQ(logText("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(logText("x\n2026-01-01T00:00:00.000 info [1] job forged"),
            "x\\n2026-01-01T00:00:00.000 info [1] job forged");
  EXPECT_EQ(logText("\x1b[2J\x1b[31mred"), "\\x1b[2J\\x1b[31mred");
  EXPECT_EQ(logText(std::string("nul\0end", 7)), "nul\\x00end");
  EXPECT_EQ(logText("del\x7f"), "del\\x7f");
  // C1 controls in UTF-8 (U+009B is a one-character CSI).
  EXPECT_EQ(logText("\xc2\x9b"
                    "31m"),
            "\\u009b31m");
  EXPECT_EQ(logText("\xc2\x85next line"), "\\u0085next line");
  // A lone 0xC2 at the end is not a C1 control: copied.
  EXPECT_EQ(logText("end\xc2"), "end\xc2");
}

TEST(LogText, ABackslashIsEscapedSoEscapesAreUnambiguous) {
  // A value that spells "\n" itself cannot pass for an escaped newline.
  EXPECT_EQ(logText("a\\nb"), "a\\\\nb");
  EXPECT_EQ(logText("a\nb"), "a\\nb");
}
