package org.imagenete.serve;

import org.imagenete.cli.DemoCommand;
import org.imagenete.edit.EditRequest;
import org.imagenete.eval.ResNetClassifier;
import org.imagenete.nn.Adm;
import org.imagenete.ops.Backends;
import org.imagenete.ops.Ops;
import org.imagenete.testutil.Browser;
import org.imagenete.testutil.Cli;
import org.imagenete.testutil.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.interactions.Actions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The editor page in a real browser: Debian's Chromium driven by its chromedriver (Selenium, no download of
 * either). Loads the page, uploads a photo and its mask, sets a size, applies it, reads the achieved ratio the
 * page shows, paints a mask, runs a sweep, and saves screenshots under {@code target/}.
 */
class ServeBrowserTest {
    static final Path DRIVER = Path.of("/usr/bin/chromedriver");

    @TempDir static Path tmp;
    static ChromeDriverService service;
    static WebDriver d;
    static WebDriverWait wait;
    static Path shots;

    /** One browser for the class: Debian's Chromium with a fresh profile, started by the chromedriver beside it. */
    @BeforeAll
    static void browser() throws Exception {
        Path chromium = Browser.find();
        assumeTrue(chromium != null && Files.isExecutable(DRIVER),
                "Chromium or chromedriver not installed (apt-get install -y chromium chromium-driver)");
        shots = Files.createDirectories(Path.of("target", "serve-browser"));
        service = new ChromeDriverService.Builder().usingDriverExecutable(DRIVER.toFile()).usingAnyFreePort().build();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(chromium.toString());
        options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--user-data-dir=" + tmp.resolve("profile"), "--window-size=1440,1000");
        d = new ChromeDriver(service, options);
        wait = new WebDriverWait(d, Duration.ofSeconds(180));
    }

    @AfterAll
    static void close() {
        if (d != null) d.quit();
        if (service != null) service.stop();
    }

    static void shot(String name) throws Exception {
        Files.write(shots.resolve(name), ((TakesScreenshot) d).getScreenshotAs(OutputType.BYTES));
    }

    /** The geometric editor with a classifier (formula-weight ResNet-18), a sweep, and a benchmark made by generate. */
    @Test
    void editAPhotoInChromium() throws Exception {
        Path bench = tmp.resolve("demo/benchmark");
        DemoCommand.extract(tmp.resolve("demo/inputs"));
        Cli.Run g = Cli.run("generate", "--images", tmp.resolve("demo/inputs/images").toString(), "--masks", tmp.resolve("demo/inputs/masks").toString(),
                "--out", bench.toString(), "--variants", "size-0.10,size-0.05,direction+30", "--fill", "telea", "--backend", "cpu", "--quiet");
        assertEquals(0, g.code(), g.err());
        Ops ops = Backends.get("cpu");
        Path weights = Golden.formulaResNet(tmp.resolve("resnet18.safetensors"), 18);
        try (ResNetClassifier cls = ResNetClassifier.open(weights, ops);
             Server server = Server.start(Server.Options.defaults().withPort(0).withResults(tmp.resolve("results")),
                     new Server.Engine(ops, EditRequest.Models.NONE, cls, bench, null))) {
            d.get(server.url());
            wait.until(ExpectedConditions.attributeToBe(By.tagName("body"), "data-ready", "true"));
            assertEquals("imagenet-e editor", d.getTitle());
            assertEquals(6, new Select(d.findElement(By.id("demo"))).getOptions().size() - 1, "six demo photos offered");

            // upload a photo and its mask, set a size, apply
            d.findElement(By.id("live")).click();   // off: this test says when to edit
            d.findElement(By.id("image-file")).sendKeys(Golden.animals().resolve("tabby_1.jpg").toAbsolutePath().toString());
            wait.until(ExpectedConditions.invisibilityOfElementLocated(By.id("stage-hint")));
            d.findElement(By.id("mask-file")).sendKeys(Golden.animals().resolve("masks/tabby_1.png").toAbsolutePath().toString());
            wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("mask-info"), "Object: "));
            assertTrue(d.findElement(By.id("mask-info")).getText().matches("Object: 2\\d\\.\\d% of the photo \\(tabby_1.png\\)"),
                    d.findElement(By.id("mask-info")).getText());
            WebElement size = d.findElement(By.id("size"));
            size.clear();
            size.sendKeys("0.08");
            assertEquals("size=0.08", d.findElement(By.id("edits-text")).getText());
            d.findElement(By.id("apply")).click();
            WebElement achieved = wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("achieved-ratio")));
            double ratio = Double.parseDouble(achieved.getText());
            assertEquals(0.08, ratio, 0.01 * 0.08, "achieved ratio shown: " + ratio);
            assertEquals("size-0.08", d.findElement(By.id("result-variant")).getText());
            wait.until(dr -> loaded(dr, "result-image") && loaded(dr, "result-before") && loaded(dr, "result-mask"));
            assertEquals(256L, ((JavascriptExecutor) d).executeScript("return document.getElementById('result-image').naturalWidth"));
            assertTrue(d.findElement(By.id("dl-image")).getAttribute("download").equals("tabby_1.size-0.08.png"));
            assertTrue(!d.findElement(By.id("message")).isDisplayed(), "no error shown");
            wait.until(dr -> loaded(dr, "cam-before") && loaded(dr, "cam-after"));
            assertEquals(5, d.findElements(By.cssSelector("#top5-before li")).size());
            assertEquals(5, d.findElements(By.cssSelector("#top5-after li")).size());
            assertTrue(d.findElement(By.id("classifier-name")).getText().startsWith("resnet18"));
            shot("edit.png");

            // a demo photo with live preview of a rotation
            d.findElement(By.id("live")).click();
            String before = d.findElement(By.id("result-image")).getAttribute("src");
            new Select(d.findElement(By.id("demo"))).selectByValue("tabby_1");
            d.findElement(By.id("direction-on")).click();
            wait.until(dr -> !dr.findElement(By.id("result-image")).getAttribute("src").equals(before)
                    && dr.findElement(By.id("result-variant")).getText().equals("size-0.08_direction+30"));
            assertTrue(d.findElement(By.id("value-angle")).getText().startsWith("30"));

            // drag the object in the result to the right: the edit becomes position=X:Y and the offset follows
            wait.until(dr -> loaded(dr, "result-mask"));
            new Actions(d).moveToElement(d.findElement(By.id("result-image"))).clickAndHold().moveByOffset(50, 10).release().perform();
            wait.until(ExpectedConditions.textMatches(By.id("result-variant"), java.util.regex.Pattern.compile("size-0.08_direction\\+30_position-0\\.\\d+-0\\.\\d+")));
            assertTrue(Double.parseDouble(d.findElement(By.id("value-offset_x")).getText()) > 20, "moved right by the drag");

            // painting: erase a stroke across the object, the mask becomes the painted one
            d.findElement(By.cssSelector("input[name=brush-mode][value=erase]")).click();
            WebElement canvas = d.findElement(By.id("canvas"));
            new Actions(d).moveToElement(canvas, -60, 0).clickAndHold().moveByOffset(120, 0).release().perform();
            wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("mask-info"), "(painted)"));

            // a sweep of the size in one grid
            d.findElement(By.cssSelector("#tabs button[data-tab=sweep]")).click();
            for (String[] f : new String[][]{{"sweep-from", "0.10"}, {"sweep-to", "0.06"}, {"sweep-count", "3"}}) {
                WebElement e = d.findElement(By.id(f[0]));
                e.clear();
                e.sendKeys(f[1]);
            }
            d.findElement(By.id("direction-on")).click();   // the sweep keeps the other edits: size alone here
            d.findElement(By.id("position-on")).click();
            d.findElement(By.id("sweep-run")).click();
            wait.until(dr -> dr.findElements(By.cssSelector("#sweep-grid .cell img")).size() == 3
                    && dr.findElements(By.cssSelector("#sweep-grid .cell img")).stream().allMatch(i -> complete(dr, i)));
            List<WebElement> caps = d.findElements(By.cssSelector("#sweep-grid .cell div"));
            assertEquals(3, caps.size());
            assertTrue(caps.get(0).getText().startsWith("size-0.10: ratio 0.1"), caps.get(0).getText());
            ((JavascriptExecutor) d).executeScript("document.getElementById('sweep').scrollIntoView()");
            shot("sweep.png");

            // the benchmark made by generate: the variants of each photo side by side
            d.findElement(By.id("tab-bench")).click();
            wait.until(dr -> dr.findElements(By.cssSelector("#bench-list .bench-row")).size() == 6);
            wait.until(dr -> dr.findElements(By.cssSelector("#bench-list .bench-row img")).stream().limit(8).allMatch(i -> complete(dr, i)));
            assertEquals(4, d.findElements(By.cssSelector("#bench-list .bench-row:first-child .cell")).size(), "original and three variants");
            shot("benchmark.png");
            System.out.printf(Locale.ROOT, "browser: achieved ratio %.4f shown; screenshots in %s%n", ratio, shots.toAbsolutePath());
        }
    }

    /** A diffusion edit (the tiny formula-weight ADM at 32x32) shows its steps as they come, and Cancel stops one. */
    @Test
    void diffusionProgressAndCancelInChromium() throws Exception {
        Path tiny = Golden.golden("adm-tiny/weights.pt");
        try (Adm adm = Adm.open(tiny, Map.of("num_head_channels", "8"));
             Server server = Server.start(Server.Options.defaults().withPort(0).withSize(32).withResults(tmp.resolve("results-tiny")),
                     new Server.Engine(Backends.get("cpu"), new EditRequest.Models(adm, tiny.toString(), "x", null, null, null), null, null, null))) {
            d.get(server.url());
            wait.until(ExpectedConditions.attributeToBe(By.tagName("body"), "data-ready", "true"));
            d.findElement(By.id("live")).click();
            new Select(d.findElement(By.id("demo"))).selectByValue("macaw_1");
            wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("mask-info"), "Object: "));
            d.findElement(By.id("size-on")).click();
            d.findElement(By.id("background-on")).click();
            d.findElement(By.id("steps")).sendKeys("4");
            assertEquals("background=20", d.findElement(By.id("edits-text")).getText());
            d.findElement(By.id("apply")).click();
            wait.until(ExpectedConditions.textToBe(By.id("result-variant"), "background+20"));
            assertEquals("20", d.findElement(By.id("value-lambda")).getText());
            wait.until(dr -> loaded(dr, "result-image"));
            assertEquals(32L, ((JavascriptExecutor) d).executeScript("return document.getElementById('result-image').naturalWidth"));
            // a long one, cancelled once its steps show
            WebElement steps = d.findElement(By.id("steps"));
            steps.clear();
            steps.sendKeys("100");
            d.findElement(By.id("apply")).click();
            new WebDriverWait(d, Duration.ofSeconds(120), Duration.ofMillis(20))
                    .until(ExpectedConditions.textMatches(By.id("progress-text"), java.util.regex.Pattern.compile("step \\d+ of 100")));
            shot("progress.png");
            d.findElement(By.id("cancel")).click();
            wait.until(ExpectedConditions.textToBe(By.id("message"), "cancelled"));
            assertTrue(!d.findElement(By.id("cancel")).isDisplayed() && !d.findElement(By.id("progress")).isDisplayed());
        }
    }

    private static boolean loaded(WebDriver d, String id) { return complete(d, d.findElement(By.id(id))); }

    private static boolean complete(WebDriver d, WebElement img) {
        return Boolean.TRUE.equals(((JavascriptExecutor) d).executeScript("return arguments[0].complete && arguments[0].naturalWidth > 0", img));
    }
}
