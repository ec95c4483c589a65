package org.imagenete.bench;

import org.imagenete.edit.HoleFiller;
import org.imagenete.image.Filter;
import org.imagenete.image.Images;
import org.imagenete.image.Mask;
import org.imagenete.image.MaskSource;
import org.imagenete.image.Masks;
import org.imagenete.image.Resize;
import org.imagenete.image.RgbImage;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** The classical hole fills on a real photo at 256x256 (the bundled tabby, its mask dilated by 2 px as the editor does). */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx2g"})
public class FillBench {
    @Param({"patch", "telea", "pushpull"})
    public String fill;

    HoleFiller filler;
    RgbImage image;
    Mask hole;

    @Setup
    public void setUp() throws Exception {
        filler = HoleFiller.named(fill);
        Path dir = Files.createTempDirectory("fillbench");
        Path jpg = copy("images/n02123045/tabby_1.jpg", dir), png = copy("masks/n02123045/tabby_1.png", dir);
        RgbImage full = Images.read(jpg);
        image = Resize.resize(full, 256, 256, Filter.LANCZOS);
        Mask m = Masks.readFor(png, new MaskSource.Binary(), full, false).resizeNearest(256, 256);
        boolean[] b = new boolean[256 * 256];
        for (int y = 0; y < 256; y++)
            for (int x = 0; x < 256; x++)
                for (int dy = -2; dy <= 2 && !b[y * 256 + x]; dy++)
                    for (int dx = -2; dx <= 2; dx++)
                        if (y + dy >= 0 && y + dy < 256 && x + dx >= 0 && x + dx < 256 && m.get(x + dx, y + dy)) {
                            b[y * 256 + x] = true;
                            break;
                        }
        hole = Mask.of(256, 256, b);
    }

    private static Path copy(String res, Path dir) throws Exception {
        Path out = dir.resolve(Path.of(res).getFileName());
        try (InputStream in = FillBench.class.getResourceAsStream("/org/imagenete/demo/" + res)) {
            Files.copy(in, out);
        }
        return out;
    }

    @Benchmark
    public RgbImage fill() { return filler.fill(image, hole); }
}
