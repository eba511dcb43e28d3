package kafkalab.streams;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;

import org.msgpack.value.Value;

/**
 * What a window computes, per input: trades -> candles (CandleBuilder of kafkalab.core.windowing) and
 * order books -> book features (BookFeaturesBuilder). An aggregate is stored in the window store as bytes.
 */
interface Kind {
    String inputType();

    String outputType();

    /** The record's symbol and event time, checked the way models.from_record checks them. */
    Parsed parse(Map<String, Value> fields) throws Wire.Invalid;

    Agg fresh();

    Agg read(ByteBuffer bytes);

    /** One decoded input record. */
    record Parsed(String symbol, long eventTsUs, Map<String, Value> fields) {}

    interface Agg {
        void add(Parsed p) throws Wire.Invalid;

        byte[] bytes();

        byte[] result(String symbol, long startUs, long endUs, long producedUs) throws IOException;
    }

    Kind TRADES = new Kind() {
        public String inputType() { return "trade"; }

        public String outputType() { return "candle"; }

        public Parsed parse(Map<String, Value> f) throws Wire.Invalid {
            String symbol = Wire.text(f, "symbol", "trade");
            if (Wire.integer(f, "trade_id", "trade") <= 0) {
                throw new Wire.Invalid("invalid trade: trade_id must be a positive integer");
            }
            Wire.positive(Wire.field(f, "price", "trade"), "price", "trade");
            Wire.positive(Wire.field(f, "size", "trade"), "size", "trade");
            String side = Wire.text(f, "side", "trade");
            if (!side.equals("buy") && !side.equals("sell")) {
                throw new Wire.Invalid("invalid trade: side must be 'buy' or 'sell' ('" + side + "')");
            }
            Wire.timestamp(f, "produced_ts_us", "trade");
            return new Parsed(symbol, Wire.timestamp(f, "event_ts_us", "trade"), f);
        }

        public Agg fresh() { return new Candle(); }

        public Agg read(ByteBuffer b) { return Candle.read(b); }
    };

    Kind BOOKS = new Kind() {
        public String inputType() { return "orderbook"; }

        public String outputType() { return "book_features"; }

        public Parsed parse(Map<String, Value> f) throws Wire.Invalid {
            String symbol = Wire.text(f, "symbol", "orderbook");
            if (Wire.integer(f, "sequence", "orderbook") <= 0) {
                throw new Wire.Invalid("invalid orderbook: sequence must be a positive integer");
            }
            Wire.timestamp(f, "produced_ts_us", "orderbook");
            Book.levels(f, "bids");
            Book.levels(f, "asks");
            return new Parsed(symbol, Wire.timestamp(f, "event_ts_us", "orderbook"), f);
        }

        public Agg fresh() { return new Book(); }

        public Agg read(ByteBuffer b) { return Book.read(b); }
    };

    /** OHLC, volume, VWAP and count: open/close are the first/last trade by (event time, trade_id). */
    final class Candle implements Agg {
        long firstTs, firstId, lastTs, lastId, count;
        double open, close, high, low, volume, notional;

        public void add(Parsed p) throws Wire.Invalid {
            long id = Wire.integer(p.fields(), "trade_id", "trade");
            double price = Wire.positive(p.fields().get("price"), "price", "trade");
            double size = Wire.positive(p.fields().get("size"), "size", "trade");
            long ts = p.eventTsUs();
            if (count == 0) {
                firstTs = lastTs = ts;
                firstId = lastId = id;
                open = close = high = low = price;
            } else {
                if (ts < firstTs || (ts == firstTs && id < firstId)) {
                    firstTs = ts; firstId = id; open = price;
                }
                if (ts > lastTs || (ts == lastTs && id >= lastId)) {
                    lastTs = ts; lastId = id; close = price;
                }
                high = Math.max(high, price);
                low = Math.min(low, price);
            }
            volume += size;
            notional += price * size;
            count++;
        }

        public byte[] bytes() {
            ByteBuffer b = ByteBuffer.allocate(5 * 8 + 6 * 8);
            b.putLong(firstTs).putLong(firstId).putLong(lastTs).putLong(lastId).putLong(count);
            b.putDouble(open).putDouble(close).putDouble(high).putDouble(low).putDouble(volume).putDouble(notional);
            return b.array();
        }

        static Candle read(ByteBuffer b) {
            Candle c = new Candle();
            c.firstTs = b.getLong(); c.firstId = b.getLong(); c.lastTs = b.getLong(); c.lastId = b.getLong();
            c.count = b.getLong();
            c.open = b.getDouble(); c.close = b.getDouble(); c.high = b.getDouble(); c.low = b.getDouble();
            c.volume = b.getDouble(); c.notional = b.getDouble();
            return c;
        }

        public byte[] result(String symbol, long startUs, long endUs, long producedUs) throws IOException {
            // As CandleBuilder.result: VWAP rounded to 12 places, clamped to [low, high].
            double vwap = Math.min(Math.max(Wire.round(notional / volume, 12), low), high);
            return new Wire.MapWriter(12).put("symbol", symbol).put("window_start_us", startUs)
                    .put("window_end_us", endUs).put("open", open).put("high", high).put("low", low)
                    .put("close", close).put("volume", volume).put("vwap", vwap).put("trade_count", count)
                    .put("event_ts_us", endUs).put("produced_ts_us", producedUs).bytes();
        }
    }

    /** Mid of the last snapshot by (event time, sequence), mean spread, mean depth imbalance. */
    final class Book implements Agg {
        long lastTs, lastSeq, count;
        double lastMid, spreadSum, imbalanceSum;

        static List<Value> levels(Map<String, Value> f, String side) throws Wire.Invalid {
            Value v = Wire.field(f, side, "orderbook");
            if (!v.isArrayValue() || v.asArrayValue().size() == 0) {
                throw new Wire.Invalid("order book has an empty side");
            }
            for (Value level : v.asArrayValue()) {
                if (!level.isMapValue()) {
                    throw new Wire.Invalid("orderbook venue or levels are malformed");
                }
            }
            return v.asArrayValue().list();
        }

        private static double level(Value level, String name) throws Wire.Invalid {
            for (Map.Entry<Value, Value> e : level.asMapValue().entrySet()) {
                if (e.getKey().toString().equals(name)) {
                    return Wire.positive(e.getValue(), name, "orderbook");
                }
            }
            throw new Wire.Invalid("orderbook venue or levels are malformed (no " + name + ")");
        }

        private static double depth(List<Value> levels) throws Wire.Invalid {
            double sum = 0;
            for (Value l : levels) {
                sum += level(l, "size");
            }
            return sum;
        }

        public void add(Parsed p) throws Wire.Invalid {
            List<Value> bids = levels(p.fields(), "bids");
            List<Value> asks = levels(p.fields(), "asks");
            double bid = level(bids.get(0), "price");
            double ask = level(asks.get(0), "price");
            if (bid >= ask) {
                throw new Wire.Invalid("invalid orderbook: book is crossed (best bid >= best ask)");
            }
            long seq = Wire.integer(p.fields(), "sequence", "orderbook");
            double bidDepth = depth(bids), askDepth = depth(asks);  // every check before any change
            long ts = p.eventTsUs();
            if (count == 0 || ts > lastTs || (ts == lastTs && seq >= lastSeq)) {
                lastTs = ts; lastSeq = seq; lastMid = Wire.round((bid + ask) / 2, 10);
            }
            spreadSum += Wire.round(ask - bid, 10);
            imbalanceSum += (bidDepth - askDepth) / (bidDepth + askDepth);
            count++;
        }

        public byte[] bytes() {
            ByteBuffer b = ByteBuffer.allocate(6 * 8);
            b.putLong(lastTs).putLong(lastSeq).putLong(count).putDouble(lastMid).putDouble(spreadSum)
                    .putDouble(imbalanceSum);
            return b.array();
        }

        static Book read(ByteBuffer b) {
            Book k = new Book();
            k.lastTs = b.getLong(); k.lastSeq = b.getLong(); k.count = b.getLong();
            k.lastMid = b.getDouble(); k.spreadSum = b.getDouble(); k.imbalanceSum = b.getDouble();
            return k;
        }

        public byte[] result(String symbol, long startUs, long endUs, long producedUs) throws IOException {
            double imbalance = Math.min(1.0, Math.max(-1.0, imbalanceSum / count));
            return new Wire.MapWriter(10).put("symbol", symbol).put("window_start_us", startUs)
                    .put("window_end_us", endUs).put("mid_price", lastMid)
                    .put("spread", Wire.round(spreadSum / count, 12)).put("imbalance", imbalance)
                    .put("snapshot_count", count).put("last_sequence", lastSeq).put("event_ts_us", endUs)
                    .put("produced_ts_us", producedUs).bytes();
        }
    }
}
