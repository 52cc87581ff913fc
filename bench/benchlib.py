"""What the benchmark scripts share: a CreateUser record (an alert with the default pack) and
a free local port."""
import json
import socket
import time


def create_user(n, now, who="ops"):
    """Record `n` of a run started at `now` (Unix seconds): a CreateUser by `who`, eventTime in
    the hour before `now`."""
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600 + n % 3000))
    return json.dumps({
        "eventVersion": "1.09", "eventID": f"e-{n}", "eventTime": t,
        "eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli/2.15.0", "eventType": "AwsApiCall",
        "userIdentity": {"type": "IAMUser", "accountId": "111122223333", "userName": who,
                         "arn": f"arn:aws:iam::111122223333:user/{who}"},
        "requestParameters": {"userName": f"user-{n:06d}"}, "responseElements": {"user": {
            "userName": f"user-{n:06d}", "arn": f"arn:aws:iam::111122223333:user/user-{n:06d}"}},
        "recipientAccountId": "111122223333",
    }, separators=(",", ":"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
