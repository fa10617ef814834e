/*
 * The Kafka Streams peer of `make bench-e2e`: two applications with the
 * topology of weir-compute and weir-enrichment in bench-e2e's pipeline
 * (tests/bench/e2e/bench.py), so their latency can be measured on the same
 * readings, the same broker and in the same seconds as Weir's.
 *
 *   compute     input Avro single-object weir.example.TrafficReading, key =
 *               intersection id, event time = its `ts` (a TimestampExtractor,
 *               as Weir's compute reads it); tumbling WINDOW_MS windows with
 *               GRACE_MS grace; per key and window count, mean and max of
 *               speed_kmh and sum of vehicle_count; final results only
 *               (suppress untilWindowCloses); weir.Aggregate out.
 *   enrichment  the aggregates left-joined with a GlobalKTable of the
 *               reference data (the same intersections Weir's enrichment
 *               joins; values "name<TAB>district"), weir.EnrichedAggregate
 *               out (attributes name and district), as Weir's enrichment.
 *
 * Both run processing.guarantee=exactly_once_v2 with commit.interval.ms
 * `commit_ms` (Kafka Streams' EOS default is 100).  Weir's compute also
 * evaluates a rule and writes alerts, and its sink pushes to WebSocket: the
 * peer does neither, so it does less work than Weir in the comparison.
 *
 * Arguments key=value: bootstrap, input, aggregates, reference, output,
 * window_ms (1000), grace_ms (0), commit_ms (100), app_id, state_dir.
 * Prints "ready" when both applications are RUNNING.
 */
package io.weir.bench;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.GlobalKTable;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.TimestampExtractor;
import weir.Aggregate;
import weir.EnrichedAggregate;
import weir.example.TrafficReading;

public final class KStreamsE2E {

    /** Per key and window: what bench-e2e's compute spec asks for. */
    static final class Agg {
        long count;
        double speedSum;
        double speedMax = Double.NEGATIVE_INFINITY;
        double vehicles;

        Agg add(TrafficReading r) {
            count++;
            speedSum += r.getSpeedKmh();
            speedMax = Math.max(speedMax, r.getSpeedKmh());
            vehicles += r.getVehicleCount();
            return this;
        }
    }

    static final class AggSerde implements Serde<Agg> {
        @Override
        public Serializer<Agg> serializer() {
            return (topic, a) -> ByteBuffer.allocate(32).putLong(a.count).putDouble(a.speedSum)
                    .putDouble(a.speedMax).putDouble(a.vehicles).array();
        }

        @Override
        public Deserializer<Agg> deserializer() {
            return (topic, bytes) -> {
                ByteBuffer b = ByteBuffer.wrap(bytes);
                Agg a = new Agg();
                a.count = b.getLong();
                a.speedSum = b.getDouble();
                a.speedMax = b.getDouble();
                a.vehicles = b.getDouble();
                return a;
            };
        }
    }

    /** Readings decoded once, at the source: event time and values. */
    static final class ReadingSerde implements Serde<TrafficReading> {
        final BinaryMessageDecoder<TrafficReading> dec = TrafficReading.getDecoder();

        @Override
        public Serializer<TrafficReading> serializer() {
            return (topic, r) -> {
                throw new UnsupportedOperationException("readings are never written");
            };
        }

        @Override
        public Deserializer<TrafficReading> deserializer() {
            // Malformed readings become null and are filtered out.
            return (topic, bytes) -> {
                try {
                    return dec.decode(bytes);
                } catch (Exception e) {
                    return null;
                }
            };
        }
    }

    static final class EventTime implements TimestampExtractor {
        @Override
        public long extract(ConsumerRecord<Object, Object> rec, long partitionTime) {
            Object v = rec.value();
            return v instanceof TrafficReading ? ((TrafficReading) v).getTs().toEpochMilli()
                    : partitionTime;
        }
    }

    static byte[] bytes(ByteBuffer bb) {
        byte[] b = new byte[bb.remaining()];
        bb.get(b);
        return b;
    }

    static Properties props(Map<String, String> a, String suffix) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.getOrDefault("app_id", "weir-e2e-kstreams") + suffix);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.getOrDefault("bootstrap", "127.0.0.1:9092"));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Long.parseLong(a.getOrDefault("commit_ms", "100")));
        p.put(StreamsConfig.STATE_DIR_CONFIG, a.getOrDefault("state_dir", "/tmp/kstreams-e2e") + suffix);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        p.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "latest");
        return p;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq < 0) {
                System.err.println("kstreams-e2e: expected key=value, got " + arg);
                System.exit(1);
            }
            a.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        String input = a.get("input"), aggregates = a.get("aggregates");
        String reference = a.get("reference"), output = a.get("output");
        long windowMs = Long.parseLong(a.getOrDefault("window_ms", "1000"));
        long graceMs = Long.parseLong(a.getOrDefault("grace_ms", "0"));
        String windowName = a.getOrDefault("window_name", "1s");

        StreamsBuilder cb = new StreamsBuilder();
        cb.stream(input, Consumed.with(Serdes.String(), new ReadingSerde())
                        .withTimestampExtractor(new EventTime()))
                .filter((k, r) -> r != null)
                .groupByKey(Grouped.with(Serdes.String(), new ReadingSerde()))
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(windowMs), Duration.ofMillis(graceMs)))
                .aggregate(Agg::new, (k, r, agg) -> agg.add(r), Materialized.with(Serdes.String(), new AggSerde()))
                .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
                .toStream()
                .map((wk, agg) -> {
                    weir.FieldStats speed = weir.FieldStats.newBuilder().setName("speed_kmh")
                            .setCount(agg.count).setMean(agg.speedSum / agg.count).setMax(agg.speedMax)
                            .build();
                    weir.FieldStats veh = weir.FieldStats.newBuilder().setName("vehicle_count")
                            .setCount(agg.count).setSum(agg.vehicles).build();
                    Aggregate out = Aggregate.newBuilder().setPipeline("kstreams").setKey(wk.key())
                            .setWindow(windowName)
                            .setWindowStart(Instant.ofEpochMilli(wk.window().start()))
                            .setWindowEnd(Instant.ofEpochMilli(wk.window().end()))
                            .setCount(agg.count).setFinal$(true).setEmittedAt(Instant.now())
                            .setFields(List.of(speed, veh)).build();
                    try {
                        return KeyValue.pair(wk.key(), bytes(Aggregate.getEncoder().encode(out)));
                    } catch (java.io.IOException e) {
                        throw new IllegalStateException(e);
                    }
                })
                .to(aggregates, Produced.with(Serdes.String(), Serdes.ByteArray()));

        StreamsBuilder eb = new StreamsBuilder();
        GlobalKTable<String, String> ref = eb.globalTable(reference,
                Consumed.with(Serdes.String(), Serdes.String()));
        BinaryMessageDecoder<Aggregate> aggDec = Aggregate.getDecoder();
        eb.stream(aggregates, Consumed.with(Serdes.String(), Serdes.ByteArray()))
                .leftJoin(ref, (k, v) -> k, (v, r) -> {
                    try {
                        Aggregate in = aggDec.decode(v);
                        Map<String, String> attrs = new HashMap<>();
                        if (r != null) {
                            String[] f = r.split("\t", 2);
                            attrs.put("name", f[0]);
                            if (f.length > 1)
                                attrs.put("district", f[1]);
                        }
                        List<weir.FieldStats> fields = in.getFields();
                        EnrichedAggregate out = EnrichedAggregate.newBuilder().setPipeline(in.getPipeline())
                                .setKey(in.getKey()).setWindow(in.getWindow())
                                .setWindowStart(in.getWindowStart()).setWindowEnd(in.getWindowEnd())
                                .setCount(in.getCount()).setFinal$(in.getFinal$())
                                .setEmittedAt(in.getEmittedAt()).setFields(fields)
                                .setEnriched(r != null).setAttributes(new HashMap<>(attrs)).build();
                        return bytes(EnrichedAggregate.getEncoder().encode(out));
                    } catch (java.io.IOException e) {
                        throw new IllegalStateException(e);
                    }
                })
                .to(output, Produced.with(Serdes.String(), Serdes.ByteArray()));

        KafkaStreams compute = new KafkaStreams(cb.build(), props(a, "-compute"));
        KafkaStreams enrich = new KafkaStreams(eb.build(), props(a, "-enrichment"));
        CountDownLatch running = new CountDownLatch(2), done = new CountDownLatch(1);
        for (KafkaStreams s : List.of(compute, enrich))
            s.setStateListener((now, before) -> {
                if (now == KafkaStreams.State.RUNNING)
                    running.countDown();
                if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING)
                    done.countDown();
            });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            compute.close(Duration.ofSeconds(20));
            enrich.close(Duration.ofSeconds(20));
        }));
        compute.start();
        enrich.start();
        new Thread(() -> {
            try {
                running.await();
                System.out.println("ready");
                System.out.flush();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }).start();
        done.await();
    }
}
