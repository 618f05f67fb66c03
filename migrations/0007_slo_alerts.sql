CREATE TABLE "slo_alert_notifications" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"channel" text NOT NULL,
	"dedup_key" text NOT NULL,
	"event" text NOT NULL,
	"alert" jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone NOT NULL,
	"delivered_at" timestamp with time zone,
	"abandoned_at" timestamp with time zone,
	"last_error" text
);
--> statement-breakpoint
CREATE TABLE "slo_alerts" (
	"slo" text NOT NULL,
	"severity" text NOT NULL,
	"state" text NOT NULL,
	"since" timestamp with time zone NOT NULL,
	"dedup_key" text NOT NULL,
	"clear_since" timestamp with time zone,
	"details" jsonb NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	CONSTRAINT "slo_alerts_slo_severity_pk" PRIMARY KEY("slo","severity")
);
--> statement-breakpoint
CREATE INDEX "slo_alert_notifications_pending_idx" ON "slo_alert_notifications" USING btree ("created_at") WHERE delivered_at is null and abandoned_at is null;