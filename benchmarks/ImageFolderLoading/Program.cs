using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using SkiaSharp;
using Trainer.Abstractions;
using Trainer.Core.Data;
using Trainer.Core.Data.Images;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using TorchSharp;
using static TorchSharp.torch;

// The image-folder task's loading cost against Fashion-MNIST's in-memory loader, on the same images (Fashion-MNIST written
// out as PNG files, one folder per class), the same size (28×28, one channel) and the same model (the Fashion CNN).
// Decoding: images per second of the image folder's decode-once pass, against reading the IDX file. Epochs: one training
// epoch per loader, rounds alternating the order, so only ratios between loaders of one round are compared.
var inv = CultureInfo.InvariantCulture;
string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
var dataDir = Arg("--data-dir", FashionMnist.DefaultDirectory);
var images = int.Parse(Arg("--images", "6000"), inv);
var rounds = int.Parse(Arg("--rounds", "3"), inv);
var threads = int.Parse(Arg("--threads", "2"), inv);
var work = Arg("--work", Path.Combine(Path.GetTempPath(), "image-folder-bench"));
const int batchSize = 64;

torch.set_num_threads(threads);
using var fashion = FashionMnist.Load(dataDir);
if (images > fashion.TrainCount) { Console.Error.WriteLine($"error: --images {images} > {fashion.TrainCount} training images"); return 2; }
var validationImages = Math.Min(2000, (int)fashion.TestCount);
WriteFolder(fashion.TrainImages, fashion.TrainLabels, images, Path.Combine(work, "png", "train"), SKEncodedImageFormat.Png, 28);
WriteFolder(fashion.TestImages, fashion.TestLabels, validationImages, Path.Combine(work, "png", "val"), SKEncodedImageFormat.Png, 28);
// Photos are larger than the network's input: the same images as 112×112 JPEGs, decoded back to 28×28.
WriteFolder(fashion.TrainImages, fashion.TrainLabels, images, Path.Combine(work, "jpeg", "train"), SKEncodedImageFormat.Jpeg, 112);
WriteFolder(fashion.TestImages, fashion.TestLabels, validationImages, Path.Combine(work, "jpeg", "val"), SKEncodedImageFormat.Jpeg, 112);
Console.WriteLine($"image_folder_loading: {images} training images 28x28 grey, batch {batchSize}, {rounds} rounds, {torch.get_num_threads()} torch threads, " +
                  $"{Environment.ProcessorCount} processors, load average {LoadAverage()}");

// Decoding speed: decode-once passes of each folder against reading the IDX files, alternating.
var pngList = ImageFolderLayout.Find(Path.Combine(work, "png"), 0.1, 0).Train;
var jpegList = ImageFolderLayout.Find(Path.Combine(work, "jpeg"), 0.1, 0).Train;
var shape = new ImageShape(1, 28, 28, ResizeMode.Crop);
var decodeRates = new Dictionary<string, List<double>> { ["idx"] = [], ["png 1 thread"] = [], ["png"] = [], ["jpeg 112->28"] = [] };
for (var round = 0; round < rounds; round++)
{
    var order = round % 2 == 0 ? decodeRates.Keys.ToList() : decodeRates.Keys.Reverse().ToList();
    foreach (var name in order)
    {
        var clock = Stopwatch.StartNew();
        var count = name switch
        {
            "idx" => Idx(),
            "png 1 thread" => Decode(pngList, 1),
            "png" => Decode(pngList, Environment.ProcessorCount),
            _ => Decode(jpegList, Environment.ProcessorCount),
        };
        decodeRates[name].Add(count / clock.Elapsed.TotalSeconds);
    }
}
Console.WriteLine();
Console.WriteLine("decode pass            images/s (median)   vs idx");
foreach (var (name, rates) in decodeRates)
    Console.WriteLine($"{name,-22} {Median(rates),18:0}   {Median(rates) / Median(decodeRates["idx"]),6:0.000}");

// Epoch time: the same model and batches' count, one epoch per loader per round, alternating order.
(string, string)[] common = [("mean", FashionMnist.Mean.ToString(inv)), ("std", FashionMnist.Std.ToString(inv)), ("augment", "false")];
using var memoryTask = Configure(Path.Combine(work, "png"), [.. common, ("loading", "memory")]);
using var streamTask = Configure(Path.Combine(work, "png"), [.. common, ("loading", "stream")]);
using var jpegStreamTask = Configure(Path.Combine(work, "jpeg"), [.. common, ("loading", "stream"), ("image_size", "28")]);
using var augmentTask = Configure(Path.Combine(work, "png"), [("mean", "0.286"), ("std", "0.353"), ("loading", "memory")]);
using var fashionImages = fashion.TrainImages.narrow(0, 0, images).clone().DetachFromDisposeScope();
using var fashionLabels = fashion.TrainLabels.narrow(0, 0, images).clone().DetachFromDisposeScope();
var loaders = new Dictionary<string, Func<IBatchLoader>>
{
    ["fashion-mnist in memory"] = () => new TensorBatchLoader(fashionImages, fashionLabels, batchSize, shuffle: true, 0, inputTransform: FashionMnist.Normalize),
    ["image-folder in memory"] = () => memoryTask.TrainLoader(batchSize, 0, 1),
    ["image-folder streamed png"] = () => streamTask.TrainLoader(batchSize, 0, 1),
    ["image-folder streamed jpeg"] = () => jpegStreamTask.TrainLoader(batchSize, 0, 1),
    ["image-folder in memory, augmented"] = () => augmentTask.TrainLoader(batchSize, 0, 1),
};
var epochs = loaders.Keys.ToDictionary(k => k, _ => new List<double>());
var loaderOnly = loaders.Keys.ToDictionary(k => k, _ => new List<double>());
using var model = new FashionCnn();
using var optimizer = optim.SGD(model.parameters(), 0.01, momentum: 0.9);
foreach (var (name, create) in loaders) Epoch(create(), train: false, maxBatches: 5);   // warm-up
for (var round = 0; round < rounds; round++)
{
    var order = round % 2 == 0 ? loaders.Keys.ToList() : loaders.Keys.Reverse().ToList();
    foreach (var name in order)
    {
        epochs[name].Add(Epoch(loaders[name](), train: true));
        loaderOnly[name].Add(Epoch(loaders[name](), train: false));
    }
}
var baseline = Median(epochs["fashion-mnist in memory"]);
Console.WriteLine();
Console.WriteLine("loader                              epoch s   vs fashion   loader alone s   loader share");
foreach (var name in loaders.Keys)
    Console.WriteLine($"{name,-35} {Median(epochs[name]),7:0.00}   {Median(epochs[name]) / baseline,10:0.000}   {Median(loaderOnly[name]),14:0.00}   " +
                      $"{Median(loaderOnly[name]) / Median(epochs[name]),12:0.000}");
Console.WriteLine(JsonSerializer.Serialize(new
{
    benchmark = "image_folder_loading", images, rounds, threads, processors = Environment.ProcessorCount,
    decode_images_per_s = decodeRates.ToDictionary(kv => kv.Key, kv => Math.Round(Median(kv.Value))),
    epoch_s = epochs.ToDictionary(kv => kv.Key, kv => Math.Round(Median(kv.Value), 3)),
    epoch_ratio_vs_fashion = epochs.ToDictionary(kv => kv.Key, kv => Math.Round(Median(kv.Value) / baseline, 4)),
    loader_alone_s = loaderOnly.ToDictionary(kv => kv.Key, kv => Math.Round(Median(kv.Value), 3)),
    load_average_after = LoadAverage(),
}));
return 0;

int Idx()
{
    using var data = FashionMnist.Load(dataDir);
    return (int)(data.TrainCount + data.TestCount);
}

int Decode(ImageFileList list, int decodeThreads)
{
    using var decoded = ImageFolderReader.DecodeAll(list, shape, decodeThreads);
    return (int)decoded.Count;
}

double Epoch(IBatchLoader loader, bool train, int maxBatches = int.MaxValue)
{
    var clock = Stopwatch.StartNew();
    using var batches = loader.GetBatches(0).GetEnumerator();
    for (var i = 0; i < maxBatches; i++)
    {
        using var scope = NewDisposeScope();
        if (!batches.MoveNext()) break;
        if (!train) continue;
        var loss = nn.functional.cross_entropy(model.call(batches.Current.Inputs), batches.Current.Targets);
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
    }
    (loader as IDisposable)?.Dispose();
    return clock.Elapsed.TotalSeconds;
}

static ImageFolderTask Configure(string path, (string Key, string Value)[] settings)
{
    var task = new ImageFolderTask();
    task.Configure(TaskContext.Empty with { DataPath = path, Settings = settings.ToDictionary(s => s.Key, s => s.Value) });
    return task;
}

static void WriteFolder(Tensor pixels, Tensor labels, int count, string folder, SKEncodedImageFormat format, int size)
{
    var marker = Path.Combine(folder, $".complete-{count}");
    if (File.Exists(marker)) return;
    if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    var bytes = pixels.narrow(0, 0, count).data<byte>().ToArray();
    var classes = labels.narrow(0, 0, count).data<long>().ToArray();
    Parallel.For(0, count, i =>
    {
        using var bitmap = new SKBitmap(new SKImageInfo(28, 28, SKColorType.Gray8, SKAlphaType.Opaque));
        bytes.AsSpan(i * 784, 784).CopyTo(bitmap.GetPixelSpan());
        using var scaled = size == 28 ? bitmap.Copy() : bitmap.Resize(new SKImageInfo(size, size, SKColorType.Gray8, SKAlphaType.Opaque), new SKSamplingOptions(SKCubicResampler.Mitchell));
        using var image = SKImage.FromBitmap(scaled);
        using var data = image.Encode(format, 90);
        var path = Path.Combine(folder, $"class{classes[i]}", $"{i:00000}.{(format == SKEncodedImageFormat.Png ? "png" : "jpg")}");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, data.ToArray());
    });
    File.WriteAllText(marker, "");
}

static double Median(IReadOnlyList<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
