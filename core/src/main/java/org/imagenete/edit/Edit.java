package org.imagenete.edit;

import org.imagenete.io.Printable;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The closed family of attribute edits (ImageNet-E's four attributes). One output may combine several (at
 * most one of each kind); geometric edits apply in the order size, direction, position.
 */
public sealed interface Edit {
    /** Background complexity: lambda > 0 busier, < 0 smoother; adversarial adds the classifier term. */
    record Background(float lambda, boolean adversarial) implements Edit {}

    /** Whether any of the edits is an adversarial background edit ("-adv"): those need a classifier and a label. */
    static boolean anyAdversarial(List<Edit> edits) {
        return edits.stream().anyMatch(e -> e instanceof Background b && b.adversarial());
    }

    /** Object size: the object's pixel count over the image area becomes {@code ratio}. */
    record Size(double ratio) implements Edit {
        public Size {
            if (!(ratio > 0 && ratio < 1)) throw new IllegalArgumentException("size ratio must be in (0, 1), got " + ratio);
        }
    }

    /**
     * Object position: a uniformly random (seeded) placement that keeps the object inside the image, or, with
     * {@code x} and {@code y} (fractions of the image's width and height), the object's box centred there, moved
     * only as far as needed to keep it inside (the web editor's drag). NaN for a random placement.
     */
    record Position(double x, double y) implements Edit {
        public Position() { this(Double.NaN, Double.NaN); }

        public Position {
            if (Double.isNaN(x) != Double.isNaN(y) || !Double.isNaN(x) && !(x >= 0 && x <= 1 && y >= 0 && y <= 1))
                throw new IllegalArgumentException("position=X:Y takes fractions of the width and height in [0, 1], got " + x + ":" + y);
        }

        public boolean random() { return Double.isNaN(x); }

        /** "Position[]" for the random one, as before there was a target (sidecars and manifests keep their bytes). */
        @Override public String toString() { return random() ? "Position[]" : "Position[x=" + x + ", y=" + y + "]"; }
    }

    /**
     * Object direction: rotation by {@code degrees} counter-clockwise about the image centre, or the object's.
     * {@code random} draws the angle uniformly from [-45, 45] (the ImageNet-E dataset) from the task's seed.
     */
    record Direction(double degrees, boolean aboutObject, boolean random) implements Edit {
        public Direction(double degrees, boolean aboutObject) { this(degrees, aboutObject, false); }

        /** The angle this task uses: fixed, or drawn from its seed. */
        public double angle(long seed) { return random ? -45 + 90 * Seeds.uniform(Seeds.derive(seed, "direction"), 0) : degrees; }
    }

    /**
     * The variant name of a combination, e.g. "background+20-adv", "size-0.08", "direction+30", "size-0.05_position".
     * Distinct edits get distinct names: a value is written with two decimals only when that is exact ("size-0.10"),
     * otherwise in full ("size-0.0625", "size-0.005", "background+2.5").
     */
    static String name(List<Edit> edits) {
        List<String> parts = new ArrayList<>();
        for (Edit e : edits) {
            parts.add(switch (e) {
                case Background b -> "background" + (b.lambda < 0 ? "-" : "+") + magnitude(Math.abs(b.lambda)) + (b.adversarial ? "-adv" : "");
                case Size s -> "size-" + ratio(s.ratio);
                case Position p -> p.random() ? "position" : "position-" + ratio(p.x) + "-" + ratio(p.y);
                case Direction d -> "direction" + (d.random ? "" : (d.degrees < 0 ? "-" : "+") + magnitude(Math.abs(d.degrees)))
                        + (d.aboutObject ? "@object" : "");
            });
        }
        return String.join("_", parts);
    }

    /** A whole number without decimals, anything else as the shortest text that reads back as the same value. */
    private static String magnitude(double v) {
        return v == Math.rint(v) && v < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    private static String magnitude(float v) {
        return v == Math.rint(v) && v < 1e15f ? Long.toString((long) v) : Float.toString(v);
    }

    private static String ratio(double r) {
        String two = String.format(Locale.ROOT, "%.2f", r);
        return Double.parseDouble(two) == r ? two : Double.toString(r);
    }

    /**
     * Parses one output's edits: a comma list of {@code background=L} (L signed; "-adv" suffix for the
     * adversarial term), {@code size=R}, {@code position} (or {@code position=X:Y}), {@code direction=D} ({@code @object} to rotate
     * about the object centre; {@code direction} alone draws the angle from [-45, 45]). Example: {@code size=0.08,direction=30}.
     */
    static List<Edit> parse(String spec) {
        try {
            return parseSpec(spec);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(Printable.escape(e.getMessage()), e);   // the spec may hold a newline
        }
    }

    private static List<Edit> parseSpec(String spec) {
        List<Edit> out = new ArrayList<>();
        for (String part : spec.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) continue;
            int eq = p.indexOf('=');
            String key = (eq < 0 ? p : p.substring(0, eq)).trim().toLowerCase(Locale.ROOT);
            String val = eq < 0 ? null : p.substring(eq + 1).trim();
            Edit e = switch (key) {
                case "background" -> {
                    need(key, val);
                    boolean adv = val.endsWith("-adv");
                    float lambda = (float) number(key, adv ? val.substring(0, val.length() - 4) : val);
                    if (!Float.isFinite(lambda)) throw new IllegalArgumentException(key + "=" + val + ": out of range");
                    yield new Background(lambda, adv);
                }
                case "size" -> {
                    need(key, val);
                    yield new Size(number(key, val));
                }
                case "position" -> {
                    if (val == null || val.equalsIgnoreCase("random")) yield new Position();
                    String[] xy = val.split(":");
                    if (xy.length != 2) throw new IllegalArgumentException("position takes no value (drawn from the seed) or X:Y (fractions), not '" + val + "'");
                    yield new Position(Double.parseDouble(xy[0]), Double.parseDouble(xy[1]));
                }
                case "direction" -> {
                    String v = val == null ? "random" : val;
                    boolean obj = v.endsWith("@object");
                    String num = obj ? v.substring(0, v.length() - 7) : v;
                    if (num.equals("random") || num.isEmpty()) yield new Direction(0, obj, true);
                    double deg = number(key, num);
                    if (Math.abs(deg) > 360)
                        throw new IllegalArgumentException(key + "=" + v + ": the angle must be within [-360, 360] degrees");
                    yield new Direction(deg, obj);
                }
                default -> throw new IllegalArgumentException("unknown edit '" + key + "' (background, size, position, direction)");
            };
            for (Edit o : out)
                if (o.getClass() == e.getClass()) throw new IllegalArgumentException("'" + spec + "' sets " + key + " twice");
            out.add(e);
        }
        if (out.isEmpty()) throw new IllegalArgumentException("empty edit '" + spec + "'");
        // geometric order: size, direction, position; background last
        out.sort(java.util.Comparator.comparingInt(Edit::order));
        return List.copyOf(out);
    }

    /** A finite decimal number, or an error naming the edit and the text. */
    private static double number(String key, String text) {
        double v;
        try {
            v = Double.parseDouble(text);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + "=" + text + ": '" + text + "' is not a number");
        }
        if (!Double.isFinite(v)) throw new IllegalArgumentException(key + "=" + text + ": the value must be a finite number");
        return v + 0.0;   // -0 is 0: one edit, one name
    }

    private static void need(String key, String val) {
        if (val == null || val.isEmpty()) throw new IllegalArgumentException(key + " needs a value (" + key + "=...)");
    }

    private static int order(Edit e) {
        return switch (e) {
            case Size s -> 0;
            case Direction d -> 1;
            case Position p -> 2;
            case Background b -> 3;
        };
    }
}
