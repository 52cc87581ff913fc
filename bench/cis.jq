# The CIS pack's 14 patterns as a jq selection, for bench/scan-vs-jq.sh.
def en($names): (.eventName // "") as $n | any($names[]; . == $n);
select(
  (.userIdentity.type == "Root" and .userIdentity.invokedBy == null and .eventType != "AwsServiceEvent")
  or ((.errorCode // "") | (endswith("UnauthorizedOperation") or startswith("AccessDenied")))
  or (.eventName == "ConsoleLogin" and .additionalEventData.MFAUsed != "Yes" and .userIdentity.type == "IAMUser" and .responseElements.ConsoleLogin == "Success")
  or en(["DeleteGroupPolicy","DeleteRolePolicy","DeleteUserPolicy","PutGroupPolicy","PutRolePolicy","PutUserPolicy","CreatePolicy","DeletePolicy","CreatePolicyVersion","DeletePolicyVersion","AttachRolePolicy","DetachRolePolicy","AttachUserPolicy","DetachUserPolicy","AttachGroupPolicy","DetachGroupPolicy"])
  or en(["CreateTrail","UpdateTrail","DeleteTrail","StartLogging","StopLogging"])
  or (.eventName == "ConsoleLogin" and .errorMessage == "Failed authentication")
  or (.eventSource == "kms.amazonaws.com" and en(["DisableKey","ScheduleKeyDeletion"]))
  or (.eventSource == "s3.amazonaws.com" and en(["PutBucketAcl","PutBucketPolicy","PutBucketCors","PutBucketLifecycle","PutBucketReplication","DeleteBucketPolicy","DeleteBucketCors","DeleteBucketLifecycle","DeleteBucketReplication"]))
  or (.eventSource == "config.amazonaws.com" and en(["StopConfigurationRecorder","DeleteDeliveryChannel","PutDeliveryChannel","PutConfigurationRecorder"]))
  or en(["AuthorizeSecurityGroupIngress","AuthorizeSecurityGroupEgress","RevokeSecurityGroupIngress","RevokeSecurityGroupEgress","CreateSecurityGroup","DeleteSecurityGroup"])
  or en(["CreateNetworkAcl","CreateNetworkAclEntry","DeleteNetworkAcl","DeleteNetworkAclEntry","ReplaceNetworkAclEntry","ReplaceNetworkAclAssociation"])
  or en(["CreateCustomerGateway","DeleteCustomerGateway","AttachInternetGateway","CreateInternetGateway","DeleteInternetGateway","DetachInternetGateway"])
  or en(["CreateRoute","CreateRouteTable","ReplaceRoute","ReplaceRouteTableAssociation","DeleteRouteTable","DeleteRoute","DisassociateRouteTable"])
  or en(["CreateVpc","DeleteVpc","ModifyVpcAttribute","AcceptVpcPeeringConnection","CreateVpcPeeringConnection","DeleteVpcPeeringConnection","RejectVpcPeeringConnection","AttachClassicLinkVpc","DetachClassicLinkVpc","DisableVpcClassicLink","EnableVpcClassicLink"])
)
