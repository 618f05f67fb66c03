CREATE TABLE "slo_alert_channels" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"secret_ciphertext" text NOT NULL,
	"secret_hint" text NOT NULL,
	"url" text,
	"enabled" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "slo_alert_notifications" ADD COLUMN "channel_id" text;--> statement-breakpoint
ALTER TABLE "slo_alert_notifications" ADD CONSTRAINT "slo_alert_notifications_channel_id_slo_alert_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."slo_alert_channels"("id") ON DELETE cascade ON UPDATE no action;