"""AWS adapters: DynamoDB, S3, SNS and Step Functions behind the domain's small interfaces."""
