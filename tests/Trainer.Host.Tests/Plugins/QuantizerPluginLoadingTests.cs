using System.Reflection;
using System.Runtime.Loader;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using Trainer.Abstractions.Quantization;
using Trainer.Host.Options;
using Trainer.Host.Plugins;

namespace Trainer.Host.Tests.Plugins;

public class QuantizerPluginLoadingTests
{
    private static readonly string PluginsBin = typeof(QuantizerPluginLoadingTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "PluginsBin").Value!;

    private static PluginLoader NewLoader() =>
        new(Microsoft.Extensions.Options.Options.Create(new CompressionOptions { Plugins = [] }), NullLogger<PluginLoader>.Instance);

    [Fact]
    public void The_quantizers_plugin_loads_its_six_quantizers_which_plan_on_a_host_model()
    {
        var loader = NewLoader();
        var plugin = loader.Load("Quantizers", PluginsBin);

        Assert.NotSame(AssemblyLoadContext.Default, AssemblyLoadContext.GetLoadContext(plugin.Assembly));
        Assert.Empty(plugin.Compressors);
        Assert.Equal(["bnn", "dorefa", "lsq", "naive", "observer", "qat"], loader.Quantizers.Select(q => q.Name).Order());
        Assert.Equal(["Quantizers.deps.json", "Quantizers.dll", "Quantizers.pdb", "Quantizers.xml"],
            Directory.GetFiles(Path.GetDirectoryName(plugin.Path)!).Select(Path.GetFileName).Order());

        // A host-built model crosses the boundary: the plugin recognises its Conv2d and Linear layers.
        var model = torch.nn.Sequential(("conv", torch.nn.Conv2d(1, 2, 3)), ("bn", torch.nn.BatchNorm2d(2)),
            ("flatten", torch.nn.Flatten()), ("fc", torch.nn.Linear(2, 3)));
        var plan = loader.GetQuantizer("naive").Plan(new QuantizationRequest
        {
            Model = model,
            ExampleInputShape = [1, 1, 3, 3],
            Settings = new Dictionary<string, string> { ["bits_by_name"] = "fc=4" },
        });
        Assert.Equal(["conv", "fc"], plan.Layers.Select(l => l.Layer));
        Assert.Equal([8, 4], plan.Layers.Select(l => l.Weight!.Bits));
        Assert.Equal(QuantizationGranularity.PerChannel, plan.Layers[0].Weight!.Granularity);

        var error = Assert.Throws<KeyNotFoundException>(() => loader.GetQuantizer("fp8"));
        Assert.Contains("bnn, dorefa, lsq, naive, observer, qat", string.Join(", ", loader.Quantizers.Select(q => q.Name).Order()));
        Assert.Contains("'fp8'", error.Message);
    }

    [Fact]
    public void Loading_the_quantizers_plugin_twice_is_refused_for_the_duplicate_names()
    {
        var loader = NewLoader();
        loader.Load("Quantizers", PluginsBin);
        var e = Assert.Throws<PluginLoadException>(() => loader.Load("Quantizers", PluginsBin));
        Assert.Contains("quantizer name '", e.Reason);
        Assert.Contains("is already taken by plugin Quantizers", e.Reason);
    }
}
