using System.Globalization;
using System.Text;
using SkiaSharp;

namespace Trainer.Tests.Shared;

/// <summary>Small data sets in the built-in tasks' formats, written under one folder: CIFAR-10 binary batches, an image
/// folder of two colour classes, and CSV rows for regression or classification.</summary>
internal static class TaskDataFiles
{
    /// <summary>data_batch_1.bin (40 records) and test_batch.bin (20) of random pixels, labels cycling 0..9.</summary>
    public static string WriteCifar(string root)
    {
        var folder = Path.Combine(root, "cifar");
        Directory.CreateDirectory(folder);
        var random = new Random(1);
        foreach (var (name, records) in new[] { ("data_batch_1.bin", 40), ("test_batch.bin", 20) })
        {
            var bytes = new byte[records * 3073];
            random.NextBytes(bytes);
            for (var r = 0; r < records; r++) bytes[r * 3073] = (byte)(r % 10);
            File.WriteAllBytes(Path.Combine(folder, name), bytes);
        }
        return folder;
    }

    /// <summary>train/ (10 per class) and val/ (4 per class) of 12×12 RGB PNGs, classes "blue" and "red" told apart by
    /// their strong channel.</summary>
    public static string WriteImageFolder(string root)
    {
        var folder = Path.Combine(root, "images");
        var random = new Random(2);
        foreach (var (split, count) in new[] { ("train", 10), ("val", 4) })
            foreach (var (name, channel) in new[] { ("blue", 2), ("red", 0) })
                for (var i = 0; i < count; i++)
                {
                    using var bitmap = new SKBitmap(new SKImageInfo(12, 12, SKColorType.Rgba8888, SKAlphaType.Opaque));
                    var pixels = bitmap.GetPixelSpan();
                    for (var p = 0; p < pixels.Length; p++) pixels[p] = (byte)(p % 4 == 3 ? 255 : p % 4 == channel ? 150 + random.Next(100) : random.Next(100));
                    using var image = SKImage.FromBitmap(bitmap);
                    using var data = image.Encode(SKEncodedImageFormat.Png, 100);
                    var path = Path.Combine(folder, split, name, $"{i}.png");
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    File.WriteAllBytes(path, data.ToArray());
                }
        return folder;
    }

    /// <summary>120 rows of features a, b, c in [0, 1) and a target column: 2a − b + c/2 for regression, "high"/"low"
    /// (a + b above 1) for classification.</summary>
    public static string WriteCsv(string root, bool classes)
    {
        var random = new Random(3);
        var text = new StringBuilder("a,b,c,target\n");
        for (var i = 0; i < 120; i++)
        {
            var (a, b, c) = (random.NextDouble(), random.NextDouble(), random.NextDouble());
            var target = classes ? (a + b > 1 ? "high" : "low") : (2 * a - b + 0.5 * c).ToString(CultureInfo.InvariantCulture);
            text.Append(CultureInfo.InvariantCulture, $"{a},{b},{c},{target}\n");
        }
        Directory.CreateDirectory(root);
        var path = Path.Combine(root, classes ? "classes.csv" : "values.csv");
        File.WriteAllText(path, text.ToString());
        return path;
    }
}
