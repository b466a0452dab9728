// Drive the official @azure/notification-hubs SDK against the hub stand-in and
// print one JSON object with the outcome of each step.
//
// Environment: HUB_CONNECTION_STRING (full-access rule) and HUB_NAME. The SDK
// resolves from devstack/node_modules because this file sits below devstack/.
import {
  NotificationHubsClient,
  createAppleInstallation,
  createAppleNotification,
  createFcmV1Installation,
  createTemplateNotification,
} from "@azure/notification-hubs";

// SDK 2.1.0 does not pass allowInsecureConnection down to requests, so a
// per-call policy sets it on each request to reach http://127.0.0.1.
const allowHttpPolicy = {
  name: "allowLoopbackHttp",
  sendRequest(request, next) {
    request.allowInsecureConnection = true;
    return next(request);
  },
};

function createClient(connectionString, hubName) {
  return new NotificationHubsClient(connectionString, hubName, {
    additionalPolicies: [{ policy: allowHttpPolicy, position: "perCall" }],
    retryOptions: { maxRetries: 0 },
  });
}

function withWrongKey(connectionString) {
  return connectionString.replace(/SharedAccessKey=[^;]*/, "SharedAccessKey=d3JvbmdrZXk=");
}

async function statusOf(operation) {
  try {
    await operation();
    return { ok: true };
  } catch (error) {
    return { ok: false, status: error.statusCode ?? null, message: String(error.message) };
  }
}

const appleTemplate = JSON.stringify({
  aps: { alert: "$(message)", badge: "#(badge)" },
  secureId: "$(secureId)",
});
const fcmTemplate = JSON.stringify({
  message: { android: { data: { secureId: "$(secureId)" } } },
});

async function run() {
  const connectionString = process.env.HUB_CONNECTION_STRING;
  const hubName = process.env.HUB_NAME;
  const client = createClient(connectionString, hubName);
  const results = {};

  const apple = createAppleInstallation({
    installationId: "sdk-apple-1",
    pushChannel: "00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0",
    tags: ["news"],
    templates: { alert: { body: appleTemplate, headers: { "apns-push-type": "alert" } } },
  });
  const fcm = createFcmV1Installation({
    installationId: "sdk-fcm-1",
    pushChannel: "fcm-registration-token-1",
    tags: ["news"],
    templates: { data: { body: fcmTemplate } },
  });
  const created = await client.createOrUpdateInstallation(apple);
  await client.createOrUpdateInstallation(fcm);
  results.createOrUpdateInstallation = { ok: true, trackingId: Boolean(created.trackingId) };

  results.getInstallation = await client.getInstallation("sdk-apple-1");

  await client.updateInstallation("sdk-apple-1", [
    { op: "add", path: "/tags", value: "sports" },
    { op: "add", path: "/userId", value: "alice" },
  ]);
  results.updatedInstallation = await client.getInstallation("sdk-apple-1");

  const templateSend = await client.sendNotification(
    createTemplateNotification({ body: { message: "Hello", badge: "3", secureId: "n-1" } }),
    { tagExpression: "news && !weather" },
  );
  results.templateSend = { notificationId: templateSend.notificationId };

  const appleSend = await client.sendNotification(
    createAppleNotification({
      body: JSON.stringify({ aps: { "content-available": 1 }, secureId: "n-2" }),
      headers: { "apns-push-type": "background", "apns-priority": "5" },
    }),
    { tagExpression: "(sports || weather) && $UserId:{alice}" },
  );
  results.appleSend = { notificationId: appleSend.notificationId };

  await client.deleteInstallation("sdk-fcm-1");
  results.getDeleted = await statusOf(() => client.getInstallation("sdk-fcm-1"));

  const wrongKeyClient = createClient(withWrongKey(connectionString), hubName);
  results.wrongKey = await statusOf(() => wrongKeyClient.getInstallation("sdk-apple-1"));
  return results;
}

run().then(
  (results) => console.log(JSON.stringify(results)),
  (error) => {
    console.error(`SDK check failed: ${error.statusCode ?? ""} ${error.message}`);
    process.exitCode = 1;
  },
);
