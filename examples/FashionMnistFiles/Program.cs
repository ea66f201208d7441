using System.Globalization;
using System.Text;
using SkiaSharp;
using Trainer.Core.Data;

// Fashion-MNIST as the files a user brings: PNG images in one folder per class (torchvision's ImageFolder layout, for the
// image-folder task) and CSV rows of a label and 784 pixel columns (the layout Fashion-MNIST is also published in, for
// the tabular task). Usage: fashion-mnist-files <output folder> [training images, default 10000] [validation images, default 2000]
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: fashion-mnist-files <output folder> [training images] [validation images]");
    return 2;
}
var output = Path.GetFullPath(args[0]);
var trainCount = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10_000;
var validationCount = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 2_000;
string[] classNames = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"];

using var fashion = FashionMnist.Load(FashionMnist.DefaultDirectory);
if (trainCount > fashion.TrainCount || validationCount > fashion.TestCount)
{
    Console.Error.WriteLine($"error: at most {fashion.TrainCount} training and {fashion.TestCount} validation images exist");
    return 2;
}
var train = (Pixels: fashion.TrainImages.narrow(0, 0, trainCount).data<byte>().ToArray(), Labels: fashion.TrainLabels.narrow(0, 0, trainCount).data<long>().ToArray());
var validation = (Pixels: fashion.TestImages.narrow(0, 0, validationCount).data<byte>().ToArray(), Labels: fashion.TestLabels.narrow(0, 0, validationCount).data<long>().ToArray());

WritePngFolder(train.Pixels, train.Labels, Path.Combine(output, "png", "train"));
WritePngFolder(validation.Pixels, validation.Labels, Path.Combine(output, "png", "val"));
WriteCsv(train.Pixels, train.Labels, Path.Combine(output, "csv", "train.csv"));
WriteCsv(validation.Pixels, validation.Labels, Path.Combine(output, "csv", "val.csv"));
Console.WriteLine($"wrote {trainCount} training and {validationCount} validation images to {Path.Combine(output, "png")} (one folder per class) " +
                  $"and {Path.Combine(output, "csv")} (train.csv, val.csv: label,pixel1..pixel784)");
return 0;

void WritePngFolder(byte[] pixels, long[] labels, string folder)
{
    if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    foreach (var name in classNames) Directory.CreateDirectory(Path.Combine(folder, name));
    Parallel.For(0, labels.Length, i =>
    {
        using var bitmap = new SKBitmap(new SKImageInfo(28, 28, SKColorType.Gray8, SKAlphaType.Opaque));
        pixels.AsSpan(i * 784, 784).CopyTo(bitmap.GetPixelSpan());
        using var image = SKImage.FromBitmap(bitmap);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        File.WriteAllBytes(Path.Combine(folder, classNames[labels[i]], $"{i:00000}.png"), png.ToArray());
    });
}

static void WriteCsv(byte[] pixels, long[] labels, string path)
{
    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
    var temporary = path + ".tmp";
    using (var writer = new StreamWriter(temporary, append: false, new UTF8Encoding(false)))
    {
        writer.WriteLine("label," + string.Join(',', Enumerable.Range(1, 784).Select(p => $"pixel{p}")));
        var line = new StringBuilder();
        for (var i = 0; i < labels.Length; i++)
        {
            line.Clear().Append(labels[i]);
            for (var p = 0; p < 784; p++) line.Append(',').Append(pixels[i * 784 + p]);
            writer.WriteLine(line);
        }
    }
    File.Move(temporary, path, overwrite: true);
}
