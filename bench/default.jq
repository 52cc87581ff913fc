# The default pack as a jq selection, for bench/scan-vs-jq.sh.
select(
  (.userIdentity.type == "Root" and .userIdentity.invokedBy == null and .eventType != "AwsServiceEvent")
  or (.eventSource == "iam.amazonaws.com" and .eventType == "AwsApiCall" and (.eventName == "CreateUser" or .eventName == "DeleteUser"))
)
