CREATE TABLE "org_event_sequences" (
	"org_id" uuid PRIMARY KEY NOT NULL,
	"last_seq" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "webhook_messages" ADD COLUMN "seq" bigint;--> statement-breakpoint
ALTER TABLE "org_event_sequences" ADD CONSTRAINT "org_event_sequences_org_id_organizations_id_fk" FOREIGN KEY ("org_id") REFERENCES "public"."organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_messages" ADD CONSTRAINT "webhook_messages_org_seq_key" UNIQUE("org_id","seq");--> statement-breakpoint
UPDATE "webhook_messages" AS m SET "seq" = n."seq" FROM (SELECT "id", row_number() OVER (PARTITION BY "org_id" ORDER BY "created_at", "id") AS "seq" FROM "webhook_messages") AS n WHERE m."id" = n."id";--> statement-breakpoint
INSERT INTO "org_event_sequences" ("org_id", "last_seq") SELECT "org_id", max("seq") FROM "webhook_messages" GROUP BY "org_id";
