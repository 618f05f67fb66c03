CREATE TABLE "key_identities" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"external_id" text NOT NULL,
	"meta" jsonb,
	"rate_limits" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"credits_remaining" integer,
	"credits_refill_amount" integer,
	"credits_refill_interval" text,
	"credits_period" integer DEFAULT 0 NOT NULL,
	"credits_version" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "meta" jsonb;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "enabled" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "external_id" text;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "credits_remaining" integer;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "credits_refill_amount" integer;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "credits_refill_interval" text;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "credits_period" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "api_keys" ADD COLUMN "credits_version" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "key_identities" ADD CONSTRAINT "key_identities_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "key_identities_org_external_idx" ON "key_identities" USING btree ("org_id","external_id");--> statement-breakpoint
CREATE INDEX "api_keys_external_idx" ON "api_keys" USING btree ("org_id","external_id");