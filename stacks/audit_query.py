"""The audit trail at scale: Glue tables over the locked bucket (records, refusals, kill-switch
flips; partition projection on the date folders, no crawler), an Athena workgroup with encrypted results in their own bucket, and one named
query per question in ``countersign/evidence/audit_queries.py`` (the same SQL the tests run on DuckDB)."""
from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from countersign.evidence.audit_queries import PARTITION, QUERIES, TABLES

from .audit_trail import AuditTrail

JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"


class AuditQueries(Construct):
    def __init__(self, scope: Construct, cid: str, *, audit: AuditTrail, stage: str, retain: bool) -> None:
        super().__init__(scope, cid)
        self.results = s3.Bucket(
            self, "Results", encryption=s3.BucketEncryption.KMS, encryption_key=audit.key, bucket_key_enabled=True,
            enforce_ssl=True, block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=audit.access_logs, server_access_logs_prefix="athena-results/",
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(30))],
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY, auto_delete_objects=False)
        self.database_name = f"countersign_{stage.replace('-', '_')}_audit"
        database = glue.CfnDatabase(self, "Database", catalog_id=Aws.ACCOUNT_ID, database_input=glue.CfnDatabase.
                                    DatabaseInputProperty(name=self.database_name,
                                                          description="Countersign audit trail (read-only tables)"))
        bucket = audit.bucket.bucket_name
        for name, (prefix, columns) in TABLES.items():
            table = glue.CfnTable(self, "".join(p.capitalize() for p in name.split("_")), catalog_id=Aws.ACCOUNT_ID, database_name=self.database_name,
                                  table_input=_table(name, f"s3://{bucket}/{prefix}/", columns))
            table.node.add_dependency(database)
        self.workgroup = athena.CfnWorkGroup(
            self, "WorkGroup", name=f"countersign-{stage}-audit", state="ENABLED",
            description="Countersign audit queries: results encrypted, settings enforced",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True, publish_cloud_watch_metrics_enabled=True,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.results.bucket_name}/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=audit.key.key_arn))))
        for name, (description, sql) in QUERIES.items():
            query = athena.CfnNamedQuery(self, f"Query{''.join(p.capitalize() for p in name.split('_'))}",
                                         name=f"countersign-{stage}-{name.replace('_', '-')}", description=description,
                                         database=self.database_name, query_string=sql, work_group=self.workgroup.name)
            query.node.add_dependency(self.workgroup)


def _table(name: str, location: str, columns: dict[str, str]) -> glue.CfnTable.TableInputProperty:
    return glue.CfnTable.TableInputProperty(
        name=name, table_type="EXTERNAL_TABLE",
        parameters={"classification": "json", "projection.enabled": "true",
                    f"projection.{PARTITION}.type": "date", f"projection.{PARTITION}.format": "yyyy/MM/dd",
                    f"projection.{PARTITION}.range": "2024/01/01,NOW", f"projection.{PARTITION}.interval": "1",
                    f"projection.{PARTITION}.interval.unit": "DAYS",
                    "storage.location.template": f"{location}${{{PARTITION}}}/"},
        partition_keys=[glue.CfnTable.ColumnProperty(name=PARTITION, type="string")],
        storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
            location=location, input_format="org.apache.hadoop.mapred.TextInputFormat",
            output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            serde_info=glue.CfnTable.SerdeInfoProperty(serialization_library=JSON_SERDE,
                                                       parameters={"ignore.malformed.json": "false"}),
            columns=[glue.CfnTable.ColumnProperty(name=c, type=t) for c, t in columns.items()]))
