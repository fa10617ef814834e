/*
 * The Kafka Streams side of `make bench-compute`: the same topology as the
 * bench pipeline weir-compute runs (tests/bench/compute/pipeline.json), so
 * the two can be compared on one broker and one input.
 *
 *   input   Avro single-object weir.example.TrafficReading, key = intersection
 *           id; decoded with Avro's BinaryMessageDecoder (generated
 *           SpecificRecord), malformed records counted and skipped
 *   window  tumbling WINDOW_MS with GRACE_MS grace on the record timestamp
 *           (weir-sim sets it to the reading's `ts`, the event time Weir uses)
 *   state   per key and window: count, Welford mean/M2, and a DDSketch
 *           (sketches-java, relative accuracy ACCURACY) — RocksDB store with
 *           its changelog, the Kafka Streams default
 *   emit    final results only: suppress(untilWindowCloses)
 *   output  weir.Aggregate (schemas/aggregate.avsc) in single-object encoding,
 *           field speed_kmh with count, mean, stddev (population) and p99 —
 *           the same record shape weir-compute writes
 *   delivery  processing.guarantee=exactly_once_v2 (GUARANTEE to change it)
 *
 * Configuration: key=value arguments (see main()); instance_id=<id> turns
 * on static membership.  Prints "ready" when the
 * application reaches RUNNING and counts on stderr at exit.
 */
package io.weir.bench;

import com.datadoghq.sketch.ddsketch.DDSketch;
import com.datadoghq.sketch.ddsketch.encoding.ByteArrayInput;
import com.datadoghq.sketch.ddsketch.encoding.GrowingByteArrayOutput;
import com.datadoghq.sketch.ddsketch.mapping.LogarithmicMapping;
import com.datadoghq.sketch.ddsketch.store.UnboundedSizeDenseStore;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import weir.Aggregate;
import weir.FieldStats;
import weir.example.TrafficReading;

public final class KStreamsBench {

    /** Per key and window: count, mean and M2 (Welford), and a DDSketch. */
    static final class Agg {
        long count;
        double mean;
        double m2;
        DDSketch sketch;

        Agg(double accuracy) {
            sketch = new DDSketch(new LogarithmicMapping(accuracy), UnboundedSizeDenseStore::new);
        }

        Agg add(double x) {
            count++;
            double d = x - mean;
            mean += d / count;
            m2 += d * (x - mean);
            sketch.accept(x);
            return this;
        }
    }

    static final class AggSerde implements Serde<Agg> {
        final double accuracy;

        AggSerde(double accuracy) {
            this.accuracy = accuracy;
        }

        @Override
        public Serializer<Agg> serializer() {
            // The sketch in sketches-java's own encoding (encode/decode;
            // serialize() is the protobuf form, which decode() does not read).
            GrowingByteArrayOutput out = GrowingByteArrayOutput.withDefaultInitialCapacity();
            return (topic, a) -> {
                out.clear();
                try {
                    a.sketch.encode(out, false);
                } catch (java.io.IOException e) {
                    throw new IllegalStateException(e);
                }
                ByteBuffer b = ByteBuffer.allocate(24 + out.numWrittenBytes());
                b.putLong(a.count).putDouble(a.mean).putDouble(a.m2)
                        .put(out.backingArray(), 0, out.numWrittenBytes());
                return b.array();
            };
        }

        @Override
        public Deserializer<Agg> deserializer() {
            return (topic, bytes) -> {
                ByteBuffer b = ByteBuffer.wrap(bytes);
                Agg a = new Agg(accuracy);
                a.count = b.getLong();
                a.mean = b.getDouble();
                a.m2 = b.getDouble();
                try {
                    a.sketch = DDSketch.decode(ByteArrayInput.wrap(Arrays.copyOfRange(bytes, 24, bytes.length)),
                            UnboundedSizeDenseStore::new);
                } catch (java.io.IOException e) {
                    throw new IllegalStateException("corrupt aggregate state", e);
                }
                return a;
            };
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq < 0) {
                System.err.println("kstreams-bench: expected key=value, got " + arg);
                System.exit(1);
            }
            a.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        String bootstrap = a.getOrDefault("bootstrap", "127.0.0.1:9092");
        String input = a.getOrDefault("input", "bench.input");
        String output = a.getOrDefault("output", "bench.kstreams.aggregates");
        long windowMs = Long.parseLong(a.getOrDefault("window_ms", "10000"));
        long graceMs = Long.parseLong(a.getOrDefault("grace_ms", "1000"));
        double accuracy = Double.parseDouble(a.getOrDefault("accuracy", "0.01"));
        String windowName = a.getOrDefault("window_name", "w");
        String pipeline = a.getOrDefault("pipeline", "bench");
        String field = "speed_kmh";

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.getOrDefault("app_id", "weir-bench-kstreams"));
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
                a.getOrDefault("guarantee", StreamsConfig.EXACTLY_ONCE_V2));
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.parseInt(a.getOrDefault("threads", "1")));
        p.put(StreamsConfig.STATE_DIR_CONFIG, a.getOrDefault("state_dir", "/tmp/kstreams-bench"));
        if (a.containsKey("commit_ms"))
            p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Long.parseLong(a.get("commit_ms")));
        // Static membership (KIP-345), as weir-compute's GROUP_INSTANCE_ID:
        // a restarted instance takes its tasks back without waiting out the
        // dead member's session timeout (make bench-scale's kill -9 restart).
        if (a.containsKey("instance_id"))
            p.put(StreamsConfig.mainConsumerPrefix("group.instance.id"), a.get("instance_id"));
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        p.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");

        BinaryMessageDecoder<TrafficReading> decoder = TrafficReading.getDecoder();
        AtomicLong malformed = new AtomicLong();
        AtomicLong emitted = new AtomicLong();
        AggSerde aggSerde = new AggSerde(accuracy);

        StreamsBuilder b = new StreamsBuilder();
        b.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()))
                .flatMapValues(v -> {
                    try {
                        // One decoder per stream thread would be needed with
                        // threads > 1: BinaryMessageDecoder is not thread-safe.
                        return List.of(decoder.decode(v).getSpeedKmh());
                    } catch (Exception e) {
                        malformed.incrementAndGet();
                        return List.<Double>of();
                    }
                })
                .groupByKey(Grouped.with(Serdes.String(), Serdes.Double()))
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(windowMs), Duration.ofMillis(graceMs)))
                .aggregate(() -> new Agg(accuracy), (k, x, agg) -> agg.add(x),
                        Materialized.with(Serdes.String(), aggSerde))
                .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
                .toStream()
                .map((wk, agg) -> {
                    emitted.incrementAndGet();
                    double variance = agg.count > 0 ? agg.m2 / agg.count : 0.0;
                    FieldStats fs = FieldStats.newBuilder()
                            .setName(field)
                            .setCount(agg.count)
                            .setMean(agg.mean)
                            .setStddev(Math.sqrt(variance))
                            .setP99(agg.sketch.getValueAtQuantile(0.99))
                            .build();
                    Aggregate out = Aggregate.newBuilder()
                            .setPipeline(pipeline)
                            .setKey(wk.key())
                            .setWindow(windowName)
                            .setWindowStart(Instant.ofEpochMilli(wk.window().start()))
                            .setWindowEnd(Instant.ofEpochMilli(wk.window().end()))
                            .setCount(agg.count)
                            .setFinal$(true)
                            .setEmittedAt(Instant.now())
                            .setFields(List.of(fs))
                            .build();
                    try {
                        ByteBuffer bb = Aggregate.getEncoder().encode(out);
                        byte[] bytes = new byte[bb.remaining()];
                        bb.get(bytes);
                        return KeyValue.pair(wk.key(), bytes);
                    } catch (java.io.IOException e) {
                        throw new IllegalStateException(e);
                    }
                })
                .to(output, Produced.with(Serdes.String(), Serdes.ByteArray()));

        KafkaStreams streams = new KafkaStreams(b.build(), p);
        CountDownLatch done = new CountDownLatch(1);
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING)
                System.out.println("ready");
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING)
                done.countDown();
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(30));
            System.err.println("kstreams-bench: emitted=" + emitted.get() + " malformed=" + malformed.get());
        }));
        streams.start();
        done.await();
    }
}
