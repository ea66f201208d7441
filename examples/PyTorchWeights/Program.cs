// Loads the resnet18 state_dict that make_resnet18.py wrote with PyTorch into the catalog's resnet18 (TorchSharp's
// TorchVision model, which uses PyTorch's parameter names), runs PyTorch's input through it and prints the largest
// difference from PyTorch's output, then one JSON line.
//
//   /usr/bin/python3 examples/PyTorchWeights/make_resnet18.py --out /tmp/resnet18-pt
//   dotnet run --project examples/PyTorchWeights -c Release -- /tmp/resnet18-pt
using System.Text.Json;
using Trainer.Core.Models;
using static TorchSharp.torch;

if (args.Length != 1 || !Directory.Exists(args[0]))
{
    Console.Error.WriteLine("usage: PyTorchWeights <folder written by make_resnet18.py --out>");
    return 2;
}
var folder = args[0];
const double Tolerance = 1e-4;

Tensor ReadFloats(string file, long[] shape)
{
    var bytes = File.ReadAllBytes(Path.Combine(folder, file));
    var values = new float[bytes.Length / sizeof(float)];
    Buffer.BlockCopy(bytes, 0, values, 0, values.Length * sizeof(float));   // little-endian float32, as x86-64 holds it
    return tensor(values).reshape(shape);
}

try
{
    using var scope = NewDisposeScope();
    var entry = ModelCatalog.Get("resnet18");
    using var model = entry.Create();
    var copied = PyTorchWeights.Load(Path.Combine(folder, "resnet18.pt"), model);
    model.eval();
    var input = ReadFloats("input.bin", [2, 3, 224, 224]);
    var expected = ReadFloats("output.bin", [2, 1000]);
    using var noGrad = no_grad();
    var output = model.call(input);
    var maxAbsDiff = (output - expected).abs().max().item<float>();
    var maxAbsOutput = expected.abs().max().item<float>();
    var sameTop1 = output.argmax(1).eq(expected.argmax(1)).all().item<bool>();

    Console.WriteLine($"{"tensors loaded",-26} {copied} of {model.state_dict().Count}");
    Console.WriteLine($"{"max |PyTorch output|",-26} {maxAbsOutput:0.0000}");
    Console.WriteLine($"{"max |C# - PyTorch|",-26} {maxAbsDiff:0.000e+00}");
    Console.WriteLine($"{"same top-1 class",-26} {sameTop1}");
    Console.WriteLine($"{"within 1e-4",-26} {maxAbsDiff <= Tolerance}");
    Console.WriteLine(JsonSerializer.Serialize(new
    {
        model = "resnet18", tensors = copied, max_abs_diff = maxAbsDiff, max_abs_output = maxAbsOutput, same_top1 = sameTop1,
        tolerance = Tolerance, pass = maxAbsDiff <= Tolerance,
    }));
    return maxAbsDiff <= Tolerance ? 0 : 1;
}
catch (InvalidDataException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
