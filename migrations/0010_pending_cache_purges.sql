CREATE TABLE "pending_cache_purges" (
	"tag" text PRIMARY KEY NOT NULL,
	"queued_at" timestamp (3) with time zone NOT NULL
);
