package org.imagenete.bench;

import org.imagenete.image.Filter;
import org.imagenete.image.Images;
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
import java.util.concurrent.TimeUnit;

/**
 * Pillow-exact 8-bit resizing of the bundled tabby photo (512x384), one thread: the evaluator's preprocessing
 * (short side to 256, bilinear) and the editor's (256x256, Lanczos), with the Vector API passes
 * ({@code impl=vector}) or their scalar twins ({@code impl=scalar}, {@code -Dimagenete.vector=false}). Both give
 * the same bytes (ResizeTest).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx1g"})
public class ResizeBench {
    @Param({"vector", "scalar"})
    public String impl;

    @Param({"short256-bilinear", "256x256-lanczos"})
    public String resize;

    RgbImage image;

    @Setup
    public void setUp() throws Exception {
        // Read before Resize is first used in this forked JVM: it fixes its choice of path once.
        System.setProperty("imagenete.vector", Boolean.toString(impl.equals("vector")));
        try (InputStream in = ResizeBench.class.getResourceAsStream("/org/imagenete/demo/images/n02123045/tabby_1.jpg")) {
            image = Images.decode(in.readAllBytes(), java.nio.file.Path.of("tabby_1.jpg"));
        }
    }

    @Benchmark
    public RgbImage resize() {
        return resize.equals("short256-bilinear") ? Resize.resizeShortSide(image, 256, Filter.BILINEAR)
                : Resize.resize(image, 256, 256, Filter.LANCZOS);
    }
}
