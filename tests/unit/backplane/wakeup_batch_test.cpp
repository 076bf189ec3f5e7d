#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "backplane/wakeup_batch.h"

using herald::backplane::WakeupBatch;

TEST(WakeupBatch, WithoutABatchTheCallerFlushesAtOnce) {
  bool ran = false;
  EXPECT_FALSE(WakeupBatch::defer([&] { ran = true; }));
  EXPECT_FALSE(ran);  // defer() did not keep it: the caller's job
}

TEST(WakeupBatch, FlushesRunInOrderWhenTheOutermostBatchCloses) {
  std::vector<int> order;
  {
    WakeupBatch outer;
    EXPECT_TRUE(WakeupBatch::defer([&] { order.push_back(1); }));
    {
      WakeupBatch inner;
      EXPECT_TRUE(WakeupBatch::defer([&] { order.push_back(2); }));
    }
    EXPECT_TRUE(order.empty()) << "the inner batch must not flush the outer one's wake-ups";
    EXPECT_TRUE(WakeupBatch::defer([&] { order.push_back(3); }));
  }
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_FALSE(WakeupBatch::defer([] {}));  // closed
}

TEST(WakeupBatch, AFlushMayOpenItsOwnBatch) {
  int ran = 0;
  {
    WakeupBatch batch;
    WakeupBatch::defer([&] {
      WakeupBatch again;
      EXPECT_TRUE(WakeupBatch::defer([&] { ++ran; }));
    });
  }
  EXPECT_EQ(ran, 1);
}

TEST(WakeupBatch, ABatchBelongsToItsThread) {
  WakeupBatch batch;
  bool deferredElsewhere = true;
  std::thread([&] { deferredElsewhere = WakeupBatch::defer([] {}); }).join();
  EXPECT_FALSE(deferredElsewhere);
}
