package kafkalab.streams;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.Value;
import org.msgpack.value.ValueType;

/**
 * The project's wire format (kafkalab.core.serde), msgpack only: a map of the record's fields, and the
 * headers content-type, message-type and schema-version that the Python sinks need to decode it.
 */
final class Wire {
    static final String CONTENT_TYPE = "application/msgpack";
    static final String SCHEMA_VERSION = "1";
    static final long MIN_TS_US = 1_000_000_000L * 1_000_000L;  // as kafkalab.core.models.MIN_TS_US

    /** A record that must go to dead-letters; the message is the one-line reason. */
    static final class Invalid extends Exception {
        Invalid(String reason) { super(reason); }
    }

    private Wire() {}

    static String header(Headers headers, String name) {
        Header h = headers.lastHeader(name);
        return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.US_ASCII);
    }

    /** The decoded map of a record of `expectedType`, after the header checks serde.decode makes. */
    static Map<String, Value> decode(byte[] value, Headers headers, String expectedType, String where) throws Invalid {
        String contentType = header(headers, "content-type");
        String type = header(headers, "message-type");
        if (contentType == null || type == null || header(headers, "schema-version") == null) {
            throw new Invalid("missing header(s) content-type, message-type or schema-version; "
                    + "the producer must use kafkalab.core.serde.encode");
        }
        if (!CONTENT_TYPE.equals(contentType.split(";")[0].trim().toLowerCase())) {
            throw new Invalid("the Kafka Streams processor reads msgpack only (content-type " + contentType + ")");
        }
        if (!SCHEMA_VERSION.equals(header(headers, "schema-version"))) {
            throw new Invalid("unsupported schema-version " + header(headers, "schema-version"));
        }
        if (!expectedType.equals(type)) {
            throw new Invalid("a " + type + " record in " + where + " (expected " + expectedType + ")");
        }
        if (value == null) {
            throw new Invalid(type + " record has no value (a tombstone)");
        }
        try (MessageUnpacker in = MessagePack.newDefaultUnpacker(value)) {
            Value v = in.unpackValue();
            if (in.hasNext()) {
                throw new Invalid("corrupt msgpack payload for " + type + ": extra data");
            }
            if (v.getValueType() != ValueType.MAP) {
                throw new Invalid(type + " is not a mapping");
            }
            Map<String, Value> fields = new HashMap<>();
            for (Map.Entry<Value, Value> e : v.asMapValue().entrySet()) {
                fields.put(e.getKey().toString(), e.getValue());
            }
            return fields;
        } catch (IOException | RuntimeException e) {
            throw new Invalid("corrupt msgpack payload for " + type + ": " + e.getClass().getSimpleName());
        }
    }

    static Value field(Map<String, Value> fields, String name, String type) throws Invalid {
        Value v = fields.get(name);
        if (v == null) {
            throw new Invalid(type + " lacks field(s) " + name);
        }
        return v;
    }

    static String text(Map<String, Value> fields, String name, String type) throws Invalid {
        Value v = field(fields, name, type);
        if (!v.isStringValue() || v.toString().isEmpty() || v.toString().length() > 16) {
            throw new Invalid("invalid " + type + ": " + name + " is not a short string");
        }
        return v.toString();
    }

    static long integer(Map<String, Value> fields, String name, String type) throws Invalid {
        Value v = field(fields, name, type);
        if (!v.isIntegerValue()) {
            throw new Invalid("invalid " + type + ": " + name + " is not an integer");
        }
        return v.asIntegerValue().toLong();
    }

    static long timestamp(Map<String, Value> fields, String name, String type) throws Invalid {
        long ts = integer(fields, name, type);
        if (ts < MIN_TS_US) {
            throw new Invalid("invalid " + type + ": " + name + " is too far in the past (" + ts + " us)");
        }
        return ts;
    }

    /** A positive finite number (msgpack int or float, as Python's checks accept both). */
    static double positive(Value v, String name, String type) throws Invalid {
        double d;
        if (v.isFloatValue()) {
            d = v.asFloatValue().toDouble();
        } else if (v.isIntegerValue()) {
            d = v.asIntegerValue().toLong();
        } else {
            throw new Invalid("invalid " + type + ": " + name + " is not a number");
        }
        if (!(Double.isFinite(d) && d > 0)) {
            throw new Invalid("invalid " + type + ": " + name + " must be positive (" + d + ")");
        }
        return d;
    }

    /** Python's round(x, places): the exact binary value rounded half-even, then the nearest double. */
    static double round(double x, int places) {
        return new BigDecimal(x).setScale(places, RoundingMode.HALF_EVEN).doubleValue();
    }

    /** Builds one msgpack map in field order (the order Python's to_wire writes). */
    static final class MapWriter {
        private final MessageBufferPacker out = MessagePack.newDefaultBufferPacker();

        MapWriter(int size) throws IOException { out.packMapHeader(size); }

        MapWriter put(String name, String v) throws IOException { out.packString(name).packString(v); return this; }

        MapWriter put(String name, long v) throws IOException { out.packString(name).packLong(v); return this; }

        MapWriter put(String name, double v) throws IOException { out.packString(name).packDouble(v); return this; }

        byte[] bytes() throws IOException { out.close(); return out.toByteArray(); }
    }

    static Headers headers(String messageType) {
        RecordHeaders h = new RecordHeaders();
        h.add("content-type", CONTENT_TYPE.getBytes(StandardCharsets.US_ASCII));
        h.add("message-type", messageType.getBytes(StandardCharsets.US_ASCII));
        h.add("schema-version", SCHEMA_VERSION.getBytes(StandardCharsets.US_ASCII));
        return h;
    }
}
