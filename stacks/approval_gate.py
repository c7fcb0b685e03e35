"""ApprovalGate: the whole human approval gate as one reusable construct.

Composes the audit trail, the pending-review store, notifications, the review API, the workflow
Lambdas, the dispatcher, the reviewer vigilance watch and the Standard workflow. Use it in your own
CDK app with a ``Config`` (and an ``alarm_topic`` for the vigilance alarms, if you have one).
"""
from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from countersign.rules.routing import KILL_SWITCH_CACHE_SECONDS

from .audit_query import AuditQueries
from .audit_trail import AuditTrail
from .config import Config
from .functions import Functions
from .log_encryption import encrypt_log_groups
from .notifications import Notifications
from .operations import Operations
from .review_api import ReviewApi
from .review_store import ReviewStore
from .submit_api import SubmitApi
from .verdict_delivery import VerdictDelivery
from .vigilance import Vigilance
from .workflow import Workflow

SSM_STANDARD_LIMIT = 4096


class ApprovalGate(Construct):
    def __init__(self, scope: Construct, cid: str, *, config: Config, alarm_topic: sns.ITopic | None = None) -> None:
        super().__init__(scope, cid)
        prod = config.is_production
        self.data_key = kms.Key(self, "DataKey", enable_key_rotation=True,
                                description="Countersign reviews, notifications and dead letters")
        self.link_key = kms.Key(self, "LinkKey", key_spec=kms.KeySpec.HMAC_256,
                                key_usage=kms.KeyUsage.GENERATE_VERIFY_MAC,
                                description="Countersign review link signatures (HMAC-SHA-256)",
                                removal_policy=RemovalPolicy.RETAIN if prod else RemovalPolicy.DESTROY)
        self.audit = AuditTrail(self, "Audit", retention_days=config.audit_retention_days,
                                lock_mode=config.audit_lock_mode)
        self.reviews = ReviewStore(self, "Reviews", key=self.data_key, retain=prod)
        self.notifications = Notifications(self, "Notifications", key=self.data_key, reviewers=config.reviewers)
        policy_json = json.dumps(config.policy, sort_keys=True, separators=(",", ":"))
        self.policy = ssm.StringParameter(
            self, "Policy", parameter_name=f"/countersign/{config.stage}/policy", string_value=policy_json,
            description=f"Countersign oversight policy {config.policy['version']}",
            tier=ssm.ParameterTier.ADVANCED if len(policy_json) > SSM_STANDARD_LIMIT else ssm.ParameterTier.STANDARD)
        # Who may decide what: read by Prepare (roles, active) and by the desk at every request, so
        # setting "active": false (and deploying) makes that reviewer's links useless at once.
        registry_json = config.registry.to_json()
        self.registry = ssm.StringParameter(
            self, "ReviewerRegistry", parameter_name=f"/countersign/{config.stage}/reviewers",
            string_value=registry_json, description="Countersign reviewer registry: roles, authority, active",
            tier=ssm.ParameterTier.ADVANCED if len(registry_json) > SSM_STANDARD_LIMIT else ssm.ParameterTier.STANDARD)
        # The stop button (EU AI Act Art. 14(4)(e)): off | human | halt, flipped with `countersign kill-switch`.
        self.kill_switch = ssm.StringParameter(
            self, "KillSwitch", parameter_name=f"/countersign/{config.stage}/kill-switch", string_value="off",
            allowed_pattern="^(off|human|halt)$",
            description="Countersign kill switch: off, human (every action to a human) or halt (refuse new actions)")

        fns = Functions(self, "Functions", powertools_layer_version=config.powertools_layer_version,
                        retain_logs=prod)
        audit_env = {"AUDIT_BUCKET": self.audit.bucket.bucket_name}
        store_env = {"REVIEWS_TABLE": self.reviews.table.table_name}
        link_env = {"LINK_KEY_ID": self.link_key.key_arn}
        events_env = {"EVENT_BUS_NAME": config.ops.event_bus_name}   # where reviews, decisions and verdicts are announced
        kill_env = {"KILL_SWITCH_PARAMETER": self.kill_switch.parameter_name,
                    "KILL_SWITCH_CACHE_SECONDS": str(KILL_SWITCH_CACHE_SECONDS)}
        registry_env = {"REGISTRY_PARAMETER": self.registry.parameter_name, "REGISTRY_CACHE_SECONDS": "5"}
        prepare = fns.add("Prepare", "lambdas.prepare.handler", description="Validate proposal, attach policy",
                          environment={**audit_env, **link_env, "POLICY_PARAMETER": self.policy.parameter_name,
                                       **kill_env, **registry_env, "AUDIT_REVIEWER_IDENTITY": config.audit_reviewer_identity, **store_env,
                                       "REVIEWERS": ",".join(config.reviewer_ids),
                                       "SUBMIT_AUTHENTICATED_ONLY": str(config.authenticated_submitter_only).lower()})
        review_fn = fns.add("ReviewApi", "lambdas.review_api.handler", memory=512,
                            description="Review page and decisions",
                            environment={**audit_env, **store_env, **link_env, **registry_env,
                                         "EVIDENCE_HOSTS": json.dumps(list(config.evidence_hosts)),
                                         # the review page's public host, when a proxy in front rewrites Host
                                         **({"REVIEW_BASE_URL": config.review_base_url}
                                            if config.review_base_url else {})})
        self.api = ReviewApi(self, "ReviewApi", handler=review_fn, retain_logs=prod)
        notify_env = {**audit_env, **store_env, **link_env, "TOPIC_ARN": self.notifications.topic.topic_arn,
                      "REVIEW_BASE_URL": config.review_base_url or self.api.url,   # whoever emails review links
                      "DIGEST_MINUTES": str(config.digest_minutes if config.notify == "digest" else 0),
                      "REVIEWERS": ",".join(config.reviewer_ids)}
        request = fns.add("RequestReview", "lambdas.request_review.handler",
                          description="Store pending review, notify reviewers",
                          environment={**notify_env, **events_env})
        policy_env = {"POLICY_PARAMETER": self.policy.parameter_name}
        receipt_env = {"RECEIPT_KEY_ID": self.audit.receipt_key.key_arn,
                       "RECEIPT_VALID_HOURS": str(config.receipt_valid_hours)}
        conclude = fns.add("Conclude", "lambdas.conclude.handler", description="Closing audit record and verdict",
                           environment={**audit_env, **store_env, **kill_env, **events_env, **policy_env,
                                        **receipt_env})
        self.audit.grant_receipts(conclude)
        reminders = fns.add("Reminders", "lambdas.reminders.handler", timeout=60,
                            description="Remind reviewers before their deadline; report pending reviews",
                            environment={**notify_env, **kill_env, "REVIEWERS": ",".join(config.reviewer_ids)})
        self.reminder_sweep = events.Rule(self, "ReminderSweep", description="Countersign: send due reminders",
                    schedule=events.Schedule.rate(Duration.minutes(config.reminder_sweep_minutes)),
                    targets=[targets.LambdaFunction(reminders, retry_attempts=2)])
        mail_digest = fns.add("MailDigest", "lambdas.mail_digest.handler", timeout=300,
                              description="Send each reviewer one email listing the reviews held for the digest",
                              environment=notify_env)
        # scheduled in digest mode only: otherwise nothing is ever held, and it would send nothing
        self.mail_digest_sweep = events.Rule(
            self, "MailDigestSweep", description="Countersign: send each reviewer's digest email",
            schedule=events.Schedule.rate(Duration.minutes(config.digest_minutes)),
            targets=[targets.LambdaFunction(mail_digest, retry_attempts=2)]) if config.notify == "digest" else None
        # One number: the dispatcher's timeout, from which both functions derive when a claim is stale.
        outbox_env = {**audit_env, **store_env, **events_env,
                      "DISPATCHER_TIMEOUT_SECONDS": str(config.dispatcher_timeout_seconds)}
        dispatcher = fns.add("Dispatcher", "lambdas.dispatcher.handler", timeout=config.dispatcher_timeout_seconds,
                             description="Audit decisions and resume the workflow", environment=outbox_env)
        reconciler = fns.add("Reconciler", "lambdas.reconciler.handler", timeout=120,
                             description="Finish decisions left undispatched", environment=outbox_env)
        digest = fns.add("Digest", "lambdas.digest.handler", timeout=900,
                         description="Sign the audit trail's stream heads into a digest",
                         environment={**audit_env, "DIGEST_KEY_ID": self.audit.digest_key.key_arn})
        self.audit.grant_digest(digest)
        self.queries = AuditQueries(self, "AuditQueries", audit=self.audit, stage=config.stage, retain=prod)
        self.digest_sweep = events.Rule(
            self, "DigestSweep", description="Countersign: write the signed audit digest",
            schedule=events.Schedule.rate(Duration.minutes(config.audit_digest_minutes)),
            targets=[targets.LambdaFunction(digest, retry_attempts=2)])
        self.reconcile_sweep = events.Rule(
            self, "ReconcileSweep", description="Countersign: finish decisions left undispatched",
            schedule=events.Schedule.rate(Duration.minutes(config.reconcile_minutes)),
            targets=[targets.LambdaFunction(reconciler, retry_attempts=2)])

        for fn in (prepare, review_fn, request, conclude, dispatcher, reminders, reconciler, mail_digest):
            self.audit.grant_append(fn)
        for fn in (prepare, conclude):   # the policy in effect: deployed, plus the calibrated adjustments
            self.policy.grant_read(fn)
        self.reviews.grant_autonomy(prepare, "dynamodb:GetItem")
        self.reviews.grant_autonomy(conclude, "dynamodb:GetItem", "dynamodb:PutItem")   # an approved policy.autonomy change
        if config.audit_reviewer_identity == "pseudonym":   # Prepare writes the pseudonym → id lookup
            self.reviews.grant_pseudonym_lookup(prepare)
        for fn in (prepare, review_fn):   # roles at intake; authority and active at every request
            self.registry.grant_read(fn)
        self.reviews.grant_index_query(review_fn, "by-action-type")   # the page's precedents
        for fn in (prepare, conclude, reminders):   # read at intake, at every step where an action would
            self.kill_switch.grant_read(fn)        # proceed, and by the sweep that reports it to operations
        for fn in (review_fn, conclude, dispatcher, reconciler):
            self.reviews.grant(fn, "dynamodb:GetItem", "dynamodb:UpdateItem")
        for fn in (request, reminders):   # plus the idempotency records of the review emails
            self.reviews.grant(fn, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
        self.reviews.grant_index_query(reminders, "by-reminder")
        self.reviews.grant_index_query(review_fn, "by-reviewer")   # the inbox
        # the digest: held reviews (DIGEST#<reviewer> items), read, claimed per interval and removed
        self.reviews.grant(mail_digest, "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem",
                           "dynamodb:DeleteItem")
        self.reviews.grant_index_query(reminders, "by-reviewer")     # the pending reviews, for the ops metrics
        self.reviews.grant_index_query(reconciler, "by-outbox")
        for fn in (request, review_fn, conclude, dispatcher, reminders, reconciler, mail_digest):
            self.data_key.grant(fn, "kms:Decrypt", "kms:GenerateDataKey")
        for fn in (prepare, request, review_fn, reminders, mail_digest):   # prepare: the spot-check draw
            self.link_key.grant(fn, "kms:GenerateMac")
        for fn in (request, reminders, mail_digest):
            self.notifications.topic.grant_publish(fn)
        bus = events.EventBus.from_event_bus_name(self, "EventBus", config.ops.event_bus_name)
        for fn in (request, conclude, dispatcher, reconciler):
            bus.grant_put_events_to(fn)

        self.workflow = Workflow(self, "ApprovalGate", asl="approval_gate.asl.json",
                                 name=f"countersign-{config.stage}-approval-gate",
                                 functions={"Prepare": prepare, "RequestReview": request, "Conclude": conclude},
                                 retain_logs=prod, max_human_gates=config.max_human_gates)
        executors = sorted({rules[k] for rules in [config.policy["default"], *config.policy["action_types"].values()]
                            for k in ("executor", "compensation") if rules.get(k)})
        if executors:   # the workflow's executor tasks: the policy's executors and compensations, by ARN only
            self.workflow.state_machine.add_to_role_policy(
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=executors))
        for fn in (dispatcher, reconciler):
            self.workflow.state_machine.grant_task_response(fn)
        self.submit_api = SubmitApi(self, "SubmitApi", state_machine=self.workflow.state_machine, retain_logs=prod)
        # API Gateway logging needs the account's CloudWatch role, which the review API sets
        self.submit_api.api.deployment_stage.node.add_dependency(self.api.api.node.find_child("Account"))

        # The calibrator: thresholds from the correction history. It tightens and demotes at once;
        # a loosening it may only propose, through the gate (the one role besides the submit path's
        # that may start it, and the only submitter Prepare accepts for policy.autonomy).
        calibrator = fns.add("Calibrator", "lambdas.calibrate.handler", timeout=900, memory=1024,
                             description="Calibrate thresholds on the correction history",
                             environment={**audit_env, **store_env, **policy_env,
                                          "TOPIC_ARN": self.notifications.topic.topic_arn,
                                          "REVIEWERS": ",".join(config.reviewer_ids),
                                          "STATE_MACHINE_ARN": self.workflow.state_machine.state_machine_arn})
        calibrator.add_environment("CALIBRATOR_PRINCIPAL", calibrator.role.role_arn)
        prepare.add_environment("CALIBRATOR_PRINCIPAL", calibrator.role.role_arn)
        self.audit.grant_append(calibrator)
        self.policy.grant_read(calibrator)
        self.reviews.grant(calibrator, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                           "dynamodb:DeleteItem")
        self.data_key.grant(calibrator, "kms:Decrypt", "kms:GenerateDataKey")
        self.notifications.topic.grant_publish(calibrator)
        self.workflow.state_machine.grant_start_execution(calibrator)
        self.calibrate_sweep = events.Rule(
            self, "CalibrateSweep", description="Countersign: calibrate thresholds, demote on drift",
            schedule=events.Schedule.rate(Duration.minutes(config.calibrate_minutes)),
            targets=[targets.LambdaFunction(calibrator, retry_attempts=2)])

        self.dead_letters = sqs.Queue(self, "DispatchDeadLetters", encryption=sqs.QueueEncryption.KMS,
                                      encryption_master_key=self.data_key, enforce_ssl=True,
                                      retention_period=Duration.days(14))
        # `countersign redrive` clears the dead letters its sweep made moot (the reconciler reads them)
        reconciler.add_environment("DEAD_LETTERS_URL", self.dead_letters.queue_url)
        self.dead_letters.grant_consume_messages(reconciler)
        dispatcher.add_event_source(sources.DynamoEventSource(
            self.reviews.table, starting_position=lambda_.StartingPosition.TRIM_HORIZON, batch_size=10,
            bisect_batch_on_error=True, retry_attempts=8, report_batch_item_failures=True,
            on_failure=sources.SqsDlq(self.dead_letters),
            filters=[lambda_.FilterCriteria.filter({
                "eventName": lambda_.FilterRule.is_equal("MODIFY"),
                "dynamodb": {"NewImage": {"sk": {"S": lambda_.FilterRule.is_equal("REVIEW")},
                                          "status": {"S": lambda_.FilterRule.is_equal("DECIDED")}}}})]))
        self.vigilance = Vigilance(self, "Vigilance", functions=fns, audit=self.audit, alarm_topic=alarm_topic)
        self.functions = {"Prepare": prepare, "ReviewApi": review_fn, "RequestReview": request,
                          "Conclude": conclude, "Dispatcher": dispatcher, "Reminders": reminders,
                          "Reconciler": reconciler, "Digest": digest, "Calibrator": calibrator,
                          "MailDigest": mail_digest, "Vigilance": self.vigilance.function}
        dead_letters = {"Dispatch": self.dead_letters, "UndeliveredEmail": self.notifications.undelivered}
        self.verdict_delivery = VerdictDelivery(self, "VerdictDelivery", state_machine=self.workflow.state_machine,
                                                destinations=config.verdict_destinations) \
            if config.verdict_destinations else None
        if self.verdict_delivery:
            dead_letters["VerdictDelivery"] = self.verdict_delivery.dead_letters
        self.operations = Operations(self, "Operations", ops=config.ops, sweep_minutes=config.reminder_sweep_minutes,
                                     dead_letters=dead_letters, undelivered=self.notifications.undelivered,
                                     dispatcher=dispatcher,
                                     state_machine=self.workflow.state_machine, functions=self.functions)
        if alarm_topic is None:   # the reviewer-vigilance alarms go to the ops topic unless the app gives one
            self.vigilance.notify(self.operations.topic)
        self.logs_key = encrypt_log_groups(self)
