CREATE TABLE "metrics_day" (
	"start" timestamp with time zone NOT NULL,
	"route" text NOT NULL,
	"method" text NOT NULL,
	"status_class" smallint NOT NULL,
	"count" bigint NOT NULL,
	"sum_ms" double precision NOT NULL,
	"buckets" bigint[] NOT NULL,
	CONSTRAINT "metrics_day_start_route_method_status_class_pk" PRIMARY KEY("start","route","method","status_class")
);
--> statement-breakpoint
CREATE TABLE "metrics_hour" (
	"start" timestamp with time zone NOT NULL,
	"route" text NOT NULL,
	"method" text NOT NULL,
	"status_class" smallint NOT NULL,
	"count" bigint NOT NULL,
	"sum_ms" double precision NOT NULL,
	"buckets" bigint[] NOT NULL,
	CONSTRAINT "metrics_hour_start_route_method_status_class_pk" PRIMARY KEY("start","route","method","status_class")
);
--> statement-breakpoint
CREATE TABLE "metrics_minute" (
	"start" timestamp with time zone NOT NULL,
	"route" text NOT NULL,
	"method" text NOT NULL,
	"status_class" smallint NOT NULL,
	"count" bigint NOT NULL,
	"sum_ms" double precision NOT NULL,
	"buckets" bigint[] NOT NULL,
	CONSTRAINT "metrics_minute_start_route_method_status_class_pk" PRIMARY KEY("start","route","method","status_class")
);
--> statement-breakpoint
CREATE TABLE "metrics_rollup_cursor" (
	"id" integer PRIMARY KEY NOT NULL,
	"rolled_through" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "metrics_series_minute" (
	"start" timestamp with time zone NOT NULL,
	"name" text NOT NULL,
	"labels" text NOT NULL,
	"count" bigint NOT NULL,
	"sum_ms" double precision NOT NULL,
	"buckets" bigint[] NOT NULL,
	CONSTRAINT "metrics_series_minute_start_name_labels_pk" PRIMARY KEY("start","name","labels")
);
