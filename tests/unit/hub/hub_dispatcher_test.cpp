// HubDispatcher through a connection, as a client sees it: argument binding errors,
// results, non-blocking sends and exceptions become Completions worded as ASP.NET Core
// words them, and none of them ends the connection.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include "support/fake_transport.h"

using namespace herald;
using herald::test::HubHarness;
using ::testing::HasSubstr;
namespace json = boost::json;
using Result = boost::asio::awaitable<json::value>;

namespace {

// Greet(name: string) -> "Hello, <name>"; Touch() -> void; Boom() and Refuse() throw.
struct DispatcherTest : ::testing::Test {
  DispatcherTest() {
    hub.dispatcher.addMethod(
        "Greet", 1, 1, [this](hub::HubCallContext&, const json::array& args) -> Result {
          ++calls;
          co_return json::value("Hello, " + hub::HubDispatcher::stringArg(args, 0));
        });
    hub.dispatcher.addMethod("Range", 1, 2,
                             [](hub::HubCallContext&, const json::array& args) -> Result {
                               auto from = hub::HubDispatcher::optionalIntArg(args, 0);
                               auto to = hub::HubDispatcher::optionalIntArg(args, 1);
                               co_return json::value(to.value_or(0) - from.value_or(0));
                             });
    hub.dispatcher.addMethod("Touch", 0, 0,
                             [this](hub::HubCallContext&, const json::array&) -> Result {
                               ++calls;
                               co_return json::value(nullptr);
                             });
    hub.dispatcher.addMethod("Boom", 0, 0, [](hub::HubCallContext&, const json::array&) -> Result {
      throw std::runtime_error("disk on fire");
      co_return json::value();
    });
    hub.dispatcher.addMethod("Refuse", 0, 0,
                             [](hub::HubCallContext&, const json::array&) -> Result {
                               throw hub::HubException("Job 42 does not exist.");
                               co_return json::value();
                             });
  }

  std::string errorOf(const std::string& target, json::array args,
                      test::FakeTransport* on = nullptr) {
    auto& c = on ? *on : *client;
    auto completion = c.nextCompletion(c.invoke(target, std::move(args)));
    if (!completion) return "<no completion>";
    if (!completion->error) return "<no error>";
    return *completion->error;
  }

  HubHarness hub;
  int calls = 0;
  test::FakeTransport::Ptr client = hub.connect();
};

}  // namespace

TEST_F(DispatcherTest, ResultComesBackInTheCompletion) {
  auto id = client->invoke("Greet", {"Ada"});
  auto completion = client->nextCompletion(id);
  ASSERT_TRUE(completion);
  EXPECT_EQ(completion->invocationId, id);
  EXPECT_FALSE(completion->error);
  EXPECT_TRUE(completion->hasResult);
  EXPECT_EQ(completion->result, json::value("Hello, Ada"));
}

TEST_F(DispatcherTest, VoidMethodCompletesWithANullResult) {
  auto completion = client->nextCompletion(client->invoke("Touch"));
  ASSERT_TRUE(completion);
  EXPECT_FALSE(completion->error);
  EXPECT_TRUE(completion->hasResult);
  EXPECT_TRUE(completion->result.is_null());
  // On the wire, as .NET writes it: "result":null is present.
  EXPECT_THAT(client->rawFrames().back(), HasSubstr(R"("result":null)"));
}

TEST_F(DispatcherTest, MethodNamesAreCaseInsensitive) {
  auto completion = client->nextCompletion(client->invoke("greet", {"x"}));
  ASSERT_TRUE(completion);
  EXPECT_FALSE(completion->error);
}

TEST_F(DispatcherTest, TooFewAndTooManyArgumentsAreBindingErrors) {
  EXPECT_EQ(errorOf("Greet", {}),
            "Failed to invoke 'Greet' due to an error on the server. InvalidDataException: "
            "Invocation provides 0 argument(s) but target expects 1.");
  EXPECT_EQ(errorOf("Range", {1, 2, 3}),
            "Failed to invoke 'Range' due to an error on the server. InvalidDataException: "
            "Invocation provides 3 argument(s) but target expects 1 to 2.");
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(client->connection().closing());
}

TEST_F(DispatcherTest, WrongArgumentTypeIsABindingError) {
  EXPECT_EQ(errorOf("Greet", {42}),
            "Failed to invoke 'Greet' due to an error on the server. InvalidDataException: Error "
            "binding arguments. Argument 0 must be a string.");
  EXPECT_EQ(errorOf("Range", {1, "two"}),
            "Failed to invoke 'Range' due to an error on the server. InvalidDataException: Error "
            "binding arguments. Argument 1 must be an integer.");
  EXPECT_EQ(errorOf("Range", {1.5}),
            "Failed to invoke 'Range' due to an error on the server. InvalidDataException: Error "
            "binding arguments. Argument 0 must be an integer.");
  EXPECT_FALSE(client->connection().closing());
}

TEST_F(DispatcherTest, WithoutDetailedErrorsBindingErrorsHideTheReason) {
  hub.settings.enableDetailedErrors = false;
  EXPECT_EQ(errorOf("Greet", {}), "Failed to invoke 'Greet' due to an error on the server.");
  EXPECT_EQ(errorOf("Greet", {42}), "Failed to invoke 'Greet' due to an error on the server.");
}

TEST_F(DispatcherTest, NonBlockingInvocationGetsNoCompletion) {
  EXPECT_TRUE(client->sendInvocation("Greet", {"Ada"}));
  EXPECT_EQ(calls, 1);  // it ran
  EXPECT_EQ(client->pendingCount(), 0u);
  // Nor when it fails.
  EXPECT_TRUE(client->sendInvocation("Greet", {42}));
  EXPECT_TRUE(client->sendInvocation("Boom"));
  EXPECT_TRUE(client->sendInvocation("NoSuchMethod"));
  EXPECT_EQ(client->pendingCount(), 0u);
  EXPECT_FALSE(client->connection().closing());
}

TEST_F(DispatcherTest, AnExceptionBecomesAnErrorCompletionAndTheConnectionStays) {
  EXPECT_EQ(errorOf("Boom", {}),
            "An unexpected error occurred invoking 'Boom' on the server. Exception: disk on fire");
  EXPECT_FALSE(client->connection().closing());
  EXPECT_FALSE(client->transportClosed());
  auto completion = client->nextCompletion(client->invoke("Greet", {"again"}));
  ASSERT_TRUE(completion);
  EXPECT_EQ(completion->result, json::value("Hello, again"));
}

TEST_F(DispatcherTest, WithoutDetailedErrorsAnExceptionIsNotShown) {
  hub.settings.enableDetailedErrors = false;
  EXPECT_EQ(errorOf("Boom", {}), "An unexpected error occurred invoking 'Boom' on the server.");
}

TEST_F(DispatcherTest, AHubExceptionIsAlwaysShown) {
  hub.settings.enableDetailedErrors = false;
  EXPECT_EQ(errorOf("Refuse", {}),
            "An unexpected error occurred invoking 'Refuse' on the server. HubException: Job 42 "
            "does not exist.");
}

TEST_F(DispatcherTest, StreamIdsOnAPlainMethodAreRefused) {
  protocol::InvocationMessage m;
  m.invocationId = "9";
  m.target = "Touch";
  m.streamIds = {"s"};
  ASSERT_TRUE(client->send(m));
  auto completion = client->nextCompletion("9");
  ASSERT_TRUE(completion && completion->error);
  EXPECT_EQ(*completion->error,
            "An unexpected error occurred invoking 'Touch' on the server. HubException: Client "
            "sent 1 stream(s), Hub method expects 0.");
  EXPECT_EQ(calls, 0);
}

TEST_F(DispatcherTest, TheSameErrorsOverMessagePack) {
  auto packed = hub.connect("messagepack");
  EXPECT_EQ(errorOf("Greet", {42}, packed.get()),
            "Failed to invoke 'Greet' due to an error on the server. InvalidDataException: Error "
            "binding arguments. Argument 0 must be a string.");
  auto completion = packed->nextCompletion(packed->invoke("Greet", {"mp"}));
  ASSERT_TRUE(completion);
  EXPECT_EQ(completion->result, json::value("Hello, mp"));
}
